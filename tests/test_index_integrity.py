"""An index that proves itself: damaged files are refused in one line, never searched or crashed on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from fault_tools import cli_env

from emoret.index import store
from emoret.index.verify import verify_index
from emoret.query import text_numpy


def _refused(result, name: str) -> str:
    assert result.code == 2, (result.code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert name in lines[0], lines[0]
    return lines[0]


def _search(run_cli, index_dir, *extra):
    return run_cli("search", "a happy dog", "--index", index_dir, "--top", "3", "--json", *extra)


def _meta(index_dir) -> dict:
    return json.loads((index_dir / "meta.json").read_text())


def _write_meta(index_dir, meta) -> None:
    (index_dir / "meta.json").write_text(json.dumps(meta))


def _vector_offset(index_dir) -> int:
    raw = (index_dir / "vectors.npy").read_bytes()
    return len(raw) - 4 * _meta(index_dir)["count"] * _meta(index_dir)["dim"]


def test_every_file_is_listed_with_its_digest(index_dir):
    from emoret.index import check as index_check

    files = _meta(index_dir)["files"]
    on_disk = {p.name for p in index_dir.iterdir()} - {"meta.json"}
    assert set(files) == on_disk >= {"index.bin", "items.jsonl", "vectors.npy", "text_tower.safetensors",
                                     "text_tower.json", "tokenizer.json"}
    for name, entry in files.items():
        assert entry["size"] == (index_dir / name).stat().st_size
        assert entry["sha256"] == index_check.sha256_file(index_dir / name)
    assert "block_sums" in files["vectors.npy"] and "block_sums" in files["text_tower.safetensors"]
    assert verify_index(index_dir)["digests"] is True


@pytest.mark.parametrize("value", [np.float32(2.8e35), np.float32(np.nan), np.float32(0.0)])
def test_a_damaged_vector_is_refused_not_ranked(env, run_cli, index_dir, value):
    offset = _vector_offset(index_dir)
    with open(index_dir / "vectors.npy", "r+b") as handle:  # one component of the first video's vector
        handle.seek(offset + 4 * 3)
        handle.write(value.tobytes())
    line = _refused(_search(run_cli, index_dir), "vectors.npy")
    assert "emoret index --verify" in line
    _refused(run_cli("index", "--verify", index_dir), "vectors.npy")


def test_one_flipped_bit_anywhere_in_the_vectors_is_refused(run_cli, index_dir):
    offset, size = _vector_offset(index_dir), (index_dir / "vectors.npy").stat().st_size
    rng = np.random.default_rng(0)
    pristine = (index_dir / "vectors.npy").read_bytes()
    for _ in range(5):
        data = bytearray(pristine)
        position = int(rng.integers(offset, size))
        data[position] ^= 1 << int(rng.integers(0, 8))  # often a low mantissa bit: no score shows it
        (index_dir / "vectors.npy").write_bytes(bytes(data))
        _refused(_search(run_cli, index_dir), "vectors.npy")
    (index_dir / "vectors.npy").write_bytes(pristine)
    assert _search(run_cli, index_dir).code == 0


def test_swapped_item_lines_are_refused(run_cli, index_dir):
    lines = (index_dir / "items.jsonl").read_bytes().splitlines(keepends=True)
    lines[0], lines[1] = lines[1], lines[0]
    (index_dir / "items.jsonl").write_bytes(b"".join(lines))
    _refused(_search(run_cli, index_dir), "items.jsonl")


def test_a_graph_of_another_build_is_refused(env, run_cli, index_dir, tmp_path):
    other = tmp_path / "other"
    assert run_cli("index", env.videos, "--out", other, "--m", "4").code == 0
    shutil.copy(other / "index.bin", index_dir / "index.bin")
    _refused(_search(run_cli, index_dir, "--method", "graph"), "index.bin")


FLIP_AND_SEARCH = """
import sys
from emoret.index import store
index = store.open_index(sys.argv[1])
index.search(index.stored_vectors[0], top=3, method="graph")
"""


def test_bit_flipped_graphs_never_reach_hnswlib(index_dir):
    pristine = (index_dir / "index.bin").read_bytes()
    rng = np.random.default_rng(1)
    for _ in range(8):
        data = bytearray(pristine)
        position = int(rng.integers(0, len(data)))
        data[position] ^= 1 << int(rng.integers(0, 8))
        (index_dir / "index.bin").write_bytes(bytes(data))
        done = subprocess.run([sys.executable, "-c", FLIP_AND_SEARCH, str(index_dir)], env=cli_env(),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "IndexDamaged" in done.stderr and "index.bin" in done.stderr, (
            position, done.returncode, done.stderr[-500:])


def test_a_damaged_query_tower_is_refused(run_cli, index_dir):
    size = (index_dir / text_numpy.WEIGHTS_FILE).stat().st_size
    with open(index_dir / text_numpy.WEIGHTS_FILE, "r+b") as handle:
        handle.seek(size - 1000)
        byte = handle.read(1)
        handle.seek(size - 1000)
        handle.write(bytes([byte[0] ^ 0x40]))
    _refused(_search(run_cli, index_dir), text_numpy.WEIGHTS_FILE)
    _refused(run_cli("index", "--verify", index_dir), text_numpy.WEIGHTS_FILE)


@pytest.mark.parametrize("edit", [
    {"count": -1}, {"count": "x"}, {"dim": "a"}, {"dim": None}, {"ef": "x"}, {"count": 99}, {"dim": 0},
    {"files": []}, {"files": {"index.bin": {"size": "1"}}}, {"m": True},
    {"ef": 64}, {"fingerprint": "0" * 16}, {"model": "/elsewhere/model"},  # well-typed, but not as written
])
def test_an_edited_meta_json_is_one_line(run_cli, index_dir, edit):
    meta = _meta(index_dir)
    for key, value in edit.items():
        if value is None:
            del meta[key]
        else:
            meta[key] = value
    _write_meta(index_dir, meta)
    line = _refused(_search(run_cli, index_dir, "--method", "graph"), str(index_dir / "meta.json"))
    assert next(iter(edit)) in line or "meta_sha256" in line, line  # names the field, or says it was edited
    _refused(run_cli("index", "--verify", index_dir), str(index_dir / "meta.json"))


def test_scores_a_unit_index_cannot_give_are_refused_even_with_matching_digests(tmp_path):
    from emoret.index import check as index_check

    vectors = np.eye(4, 8, dtype=np.float32)
    with store.writer_lock(tmp_path / "idx"):
        store.write_index(tmp_path / "idx", vectors, [{"video_id": f"v{i}"} for i in range(4)])
    stored = np.load(tmp_path / "idx" / "vectors.npy")
    stored[1] *= 3  # a file written that way (no digest can tell): its scores can
    np.save(tmp_path / "idx" / "vectors.npy", stored)
    meta = _meta(tmp_path / "idx")
    meta["files"] = index_check.digest_directory(tmp_path / "idx", store.BLOCK_SUMMED, skip="meta.json")
    _write_meta(tmp_path / "idx", index_check.seal_meta(meta))
    index = store.open_index(tmp_path / "idx")
    assert index.search(vectors[0], top=1)[0][0].item["video_id"] == "v0"
    with pytest.raises(index_check.IndexDamaged, match="vectors.npy.*cannot"):
        index.search(vectors[1], top=1)


def test_an_index_from_before_digests_is_searched_exactly_with_cheap_checks(run_cli, index_dir):
    meta = _meta(index_dir)
    del meta["files"], meta["meta_sha256"]
    _write_meta(index_dir, meta)
    assert _search(run_cli, index_dir).code == 0
    result = run_cli("index", "--verify", index_dir)
    assert result.code == 0 and "before indexes carried digests" in result.stderr, result.stderr
    _refused(_search(run_cli, index_dir, "--method", "graph"), "rebuild it")
    offset = _vector_offset(index_dir)
    with open(index_dir / "vectors.npy", "r+b") as handle:  # what no digest guards there: the bound does
        handle.seek(offset)
        handle.write(np.float32(2.8e35).tobytes())
    _refused(_search(run_cli, index_dir), "vectors.npy")
    _refused(run_cli("index", "--verify", index_dir), "vectors.npy")


def test_block_sums_see_a_flipped_bit_a_cut_and_any_two_words_swapped():
    from emoret.index import check as index_check

    data = np.random.default_rng(2).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    pristine = index_check.block_sums(data)
    changed = []
    flipped = bytearray(data)
    flipped[4999] ^= 0x80
    changed.append(bytes(flipped))
    changed.append(data[:-1])
    for a, b in ((64, 128), (64, 64 + 512 * 3)):  # within one 512-byte block, and across blocks
        swapped = bytearray(data)
        swapped[a:a + 8], swapped[b:b + 8] = data[b:b + 8], data[a:a + 8]
        changed.append(bytes(swapped))
    assert all(index_check.block_sums(other) != pristine for other in changed)


def test_a_damaged_npy_header_is_one_line(run_cli, index_dir):
    raw = (index_dir / "vectors.npy").read_bytes()
    assert b"), }" in raw[:128]
    (index_dir / "vectors.npy").write_bytes(raw.replace(b"), }", b"),  ", 1))  # numpy's parser: a TokenError
    _refused(_search(run_cli, index_dir), "vectors.npy")
    _refused(run_cli("index", "--verify", index_dir), "vectors.npy")


def test_a_refresh_embeds_again_what_a_damaged_index_holds(env, run_cli, tmp_path):
    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_video

    videos = tmp_path / "videos"
    videos.mkdir()
    for scene in make_scenes(2, seed=0):
        make_video(videos / f"{scene.video_id}.mp4", scene, width=64, height=48, fps=8, duration=0.5)
    target = tmp_path / "idx"
    args = ("index", "--model", env.model_dir, videos, "--out", target)
    assert run_cli(*args).code == 0
    clean = np.load(target / "vectors.npy")
    damaged = clean.copy()
    damaged[0, 0] = -damaged[0, 0]  # a sign flipped: finite, in range, wrong
    np.save(target / "vectors.npy", damaged)
    again = run_cli(*args)
    assert again.code == 0 and "embedded 2" in again.stderr, again.stderr  # not kept as it was
    np.testing.assert_allclose(np.load(target / "vectors.npy"), clean, atol=1e-5)
    assert verify_index(target)["digests"]
