import os
import subprocess
import sys
import threading

import numpy as np
import orjson
import pytest
from retrieval_data import VIDEO_IDS

from emoret.embedding.files import load_embeddings, save_embeddings
from emoret.errors import InputError
from emoret.index import store


def unit(n, dim, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def build(path, vectors, tag="a"):
    records = [{"video_id": f"{tag}{i}"} for i in range(len(vectors))]
    with store.writer_lock(path):
        return store.write_index(path, vectors, records, {"model": "m", "fingerprint": "f"})


def test_search_matches_exact_ranking_and_is_sorted(tmp_path):
    vectors = unit(300, 16)
    build(tmp_path / "idx", vectors)
    index = store.open_index(tmp_path / "idx")
    queries = unit(5, 16, seed=1)
    for query, hits in zip(queries, index.search(queries, top=10, ef=300), strict=True):
        exact = np.argsort(-(vectors @ query))[:10]
        assert [h.item["video_id"] for h in hits] == [f"a{i}" for i in exact]
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True) and [h.rank for h in hits] == list(range(1, 11))
        assert scores[0] == pytest.approx(float(vectors[exact[0]] @ query), abs=1e-5)


def test_top_larger_than_the_index_returns_everything(tmp_path):
    build(tmp_path / "idx", unit(4, 8))
    assert len(store.open_index(tmp_path / "idx").search(unit(1, 8), top=10)[0]) == 4


def test_dimension_mismatch_is_an_input_error(tmp_path):
    build(tmp_path / "idx", unit(4, 8))
    with pytest.raises(InputError, match="dimension 8"):
        store.open_index(tmp_path / "idx").search(unit(1, 9))


def test_rebuild_replaces_atomically_and_leaves_no_debris(tmp_path):
    build(tmp_path / "idx", unit(10, 8), tag="old")
    build(tmp_path / "idx", unit(3, 8), tag="new")
    index = store.open_index(tmp_path / "idx")
    assert len(index) == 3 and index.items[0]["video_id"] == "new0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no lock file left behind
    assert oct((tmp_path / "idx" / "meta.json").stat().st_mode & 0o044) == oct(0o044 & ~_umask())


def _umask():
    current = os.umask(0)
    os.umask(current)
    return current


def test_a_foreign_directory_is_never_replaced(tmp_path):
    precious = tmp_path / "docs"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(InputError, match="not an emoret index"):
        build(precious, unit(3, 8))
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_readers_see_the_old_index_while_a_writer_builds(tmp_path):
    build(tmp_path / "idx", unit(5, 8), tag="old")
    started, release = threading.Event(), threading.Event()
    original = store.build_hnsw

    def slow_build(*args, **kwargs):
        started.set()
        release.wait(10)
        return original(*args, **kwargs)

    store.build_hnsw = slow_build
    try:
        writer = threading.Thread(target=build, args=(tmp_path / "idx", unit(7, 8), "new"))
        writer.start()
        assert started.wait(10)
        during = store.open_index(tmp_path / "idx")  # a staging directory exists right now
        assert len(during) == 5 and during.items[0]["video_id"] == "old0"
        release.set()
        writer.join(10)
    finally:
        store.build_hnsw = original
    assert store.open_index(tmp_path / "idx").items[0]["video_id"] == "new0"


def test_reader_retries_across_a_swap(tmp_path, monkeypatch):
    build(tmp_path / "idx", unit(5, 8), tag="old")
    real_read_meta = store.read_meta
    calls = {"n": 0}

    def read_meta_then_swap(path):
        calls["n"] += 1
        meta = real_read_meta(path)
        if calls["n"] == 1:  # a new version lands between the reader's first and last look
            build(tmp_path / "idx", unit(6, 8), tag="new")
        return meta

    monkeypatch.setattr(store, "read_meta", read_meta_then_swap)
    index = store.open_index(tmp_path / "idx")
    assert len(index) == 6 and index.meta["count"] == 6 and index.items[0]["video_id"] == "new0"


LOCK_HOLDER = """
import sys, time
from emoret.index import store
with store.writer_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_second_writer_waits_or_fails_clearly(env, run_cli, tmp_path):
    target = tmp_path / "idx"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(target), "1.5"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        busy = run_cli("index", env.videos, "--out", target, "--no-wait")
        assert busy.code == 1 and "another 'emoret index'" in busy.stderr
        assert not target.exists()
        waited = run_cli("index", env.videos, "--out", target)
        assert waited.code == 0 and "waiting for another run" in waited.stderr
    finally:
        holder.wait(10)
    assert len(store.open_index(target)) == len(VIDEO_IDS)


@pytest.mark.slow
def test_two_writers_at_once_leave_one_valid_index(env, tmp_path):
    target = tmp_path / "idx"
    command = [sys.executable, "-m", "emoret_cli", "index", str(env.videos), "--out", str(target)]
    runs = [subprocess.Popen(command, stderr=subprocess.PIPE) for _ in range(2)]
    # Each run loads the recorded model (torch) for the query export: minutes on a loaded machine.
    assert [run.wait(600) for run in runs] == [0, 0]
    index = store.open_index(target)
    assert [item["video_id"] for item in index.items] == VIDEO_IDS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no lock file left behind


def test_index_cli_from_shards_records_the_model(env, run_cli, tmp_path):
    whole = load_embeddings(env.videos)
    save_embeddings(tmp_path / "p0", whole.vectors[:2], whole.records[:2], whole.meta)
    save_embeddings(tmp_path / "p1", whole.vectors[2:], whole.records[2:], whole.meta)
    result = run_cli("index", tmp_path / "p0.npy", tmp_path / "p1", "--out", tmp_path / "idx", "--m", "8", "--ef", "40")
    assert result.code == 0, result.stderr
    meta = orjson.loads((tmp_path / "idx" / "meta.json").read_bytes())
    assert meta["count"] == 6 and meta["fingerprint"] == env.fingerprint and meta["m"] == 8 and meta["ef"] == 40
    assert meta["model"] == str(env.model_dir.resolve())


def test_index_cli_errors(env, run_cli, tmp_path):
    other = tmp_path / "other"
    save_embeddings(other, unit(3, 7), [{"video_id": str(i)} for i in range(3)], {"fingerprint": load_embeddings(env.videos).meta["fingerprint"]})
    mixed = run_cli("index", env.videos, other, "--out", tmp_path / "idx")
    assert mixed.code == 2 and "dimension" in mixed.stderr and mixed.stderr.count("\n") == 1
    missing = run_cli("index", tmp_path / "nothing.npy", "--out", tmp_path / "idx")
    assert missing.code == 2 and "nothing.npy" in missing.stderr
    videos_without_model = run_cli("index", tmp_path, "--out", tmp_path / "idx")
    assert videos_without_model.code == 2 and "--model" in videos_without_model.stderr
    (tmp_path / "vids").mkdir()
    save_embeddings(tmp_path / "vids", unit(3, 7), [{"video_id": str(i)} for i in range(3)])
    ambiguous = run_cli("index", tmp_path / "vids", "--out", tmp_path / "idx")
    assert ambiguous.code == 2 and "both a directory" in ambiguous.stderr
    assert not (tmp_path / "idx").exists()


def test_index_from_videos_embeds_only_what_changed(env, run_cli, tmp_path):
    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_video

    videos = tmp_path / "videos"
    videos.mkdir()
    scenes = make_scenes(3, seed=0)
    for scene in scenes:
        make_video(videos / f"{scene.video_id}.mp4", scene, width=64, height=48, fps=8, duration=0.5)
    target = tmp_path / "idx"
    args = ("index", "--model", env.model_dir, videos, "--out", target)
    first = run_cli(*args)
    assert first.code == 0 and "embedded 3" in first.stderr, first.stderr
    build_id = store.read_meta(target)["build_id"]

    again = run_cli(*args)
    assert again.code == 0 and "up to date" in again.stderr
    assert store.read_meta(target)["build_id"] == build_id  # nothing rewritten

    (videos / f"{scenes[0].video_id}.mp4").unlink()
    changed = videos / f"{scenes[1].video_id}.mp4"
    make_video(changed, scenes[2], width=64, height=48, fps=8, duration=0.75)
    (videos / "broken.mp4").write_bytes(b"garbage")
    third = run_cli(*args)
    assert third.code == 1 and "broken.mp4" in third.stderr
    assert "kept 1, embedded 1, removed 1, failed 1" in third.stderr
    index = store.open_index(target)
    assert sorted(item["video_id"] for item in index.items) == sorted(s.video_id for s in scenes[1:])


def test_index_from_videos_re_embeds_when_the_sampling_rule_changes(env, run_cli, tmp_path):
    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_video

    videos = tmp_path / "videos"
    videos.mkdir()
    for scene in make_scenes(2, seed=0):  # 16 frames a video, the model takes 4
        make_video(videos / f"{scene.video_id}.mp4", scene, width=64, height=48, fps=8, duration=2.0)
    target = tmp_path / "idx"
    args = ("index", "--model", env.model_dir, videos, "--out", target)
    first = run_cli(*args)
    assert first.code == 0 and "embedded 2" in first.stderr, first.stderr
    assert store.read_meta(target)["sampling"] == "linspace"
    linspace = np.array(store.open_index(target).vectors())

    middle = run_cli(*args, "--sampling", "middle")
    assert middle.code == 0 and "kept 0, embedded 2" in middle.stderr, middle.stderr
    assert store.read_meta(target)["sampling"] == "middle"
    assert not np.allclose(np.array(store.open_index(target).vectors()), linspace, atol=1e-4)
    again = run_cli(*args, "--sampling", "middle")
    assert again.code == 0 and "up to date" in again.stderr

    refused = run_cli("index", env.videos, "--out", tmp_path / "i2", "--sampling", "middle")
    assert refused.code == 2 and "--sampling applies to videos" in refused.stderr


def test_shards_combine_in_order_and_refuse_another_model_or_dimension():
    from types import SimpleNamespace

    from emoret.embedding.files import Embeddings, check_made_by, combine_embeddings

    meta = {"model": "m", "fingerprint": "abc", "kind": "videos"}
    a = Embeddings(unit(2, 8), [{"video_id": "a0"}, {"video_id": "a1"}], meta, "a")
    b = Embeddings(unit(1, 8, seed=1), [{"video_id": "b0"}], meta, "b")
    both = combine_embeddings([a, b])
    assert both.vectors.shape == (3, 8) and [r["video_id"] for r in both.records] == ["a0", "a1", "b0"]
    assert both.meta == {"model": "m", "fingerprint": "abc"}
    with pytest.raises(InputError, match="c: dimension 4 differs from a's 8"):
        combine_embeddings([a, Embeddings(unit(1, 4), [{}], meta, "c")])
    with pytest.raises(InputError, match="d: made by a different model than a"):
        combine_embeddings([a, Embeddings(unit(1, 8), [{}], {"fingerprint": "xyz"}, "d")])
    check_made_by(both, SimpleNamespace(fingerprint="abc", embed_dim=8), "m")
    with pytest.raises(InputError, match="a: these embeddings were made by another model than other"):
        check_made_by(both, SimpleNamespace(fingerprint="zzz", embed_dim=8), "other")
    with pytest.raises(InputError, match="a: dimension 8 but m embeds in 16"):
        check_made_by(both, SimpleNamespace(fingerprint="abc", embed_dim=16), "m")
