"""A sharded embedding set (what ``embed --ray`` writes) is read as one set by index, eval,
tsne, search and the Python API; damaged or unfinished ones are refused, never taken as valid."""

from __future__ import annotations

import tracemalloc

import numpy as np
import orjson
import pytest
from retrieval_data import caption_records, write_captions

from emoret.embedding import shards
from emoret.embedding.files import is_sharded, load_embeddings, save_embeddings


def write_sharded(name, vectors, records, meta, cuts):
    """The rows cut at ``cuts`` into shards, written out of order, then the manifest."""
    bounds = list(zip([0, *cuts], [*cuts, len(records)], strict=True))
    entries = {}
    for index in reversed(range(len(bounds))):  # the last shard first: the manifest orders them
        start, stop = bounds[index]
        path = shards.shard_path(name, index, shards.shard_key(records[start:stop], meta))
        entries[index] = shards.write_shard(path, vectors[start:stop], records[start:stop], meta)
    return shards.write_manifest(name, [entries[index] for index in range(len(bounds))], meta)


@pytest.fixture
def sharded(env, tmp_path):
    single = load_embeddings(env.videos)
    write_sharded(tmp_path / "videos", single.vectors, single.records, single.meta, [2, 3])
    return tmp_path / "videos"


def test_a_sharded_set_reads_as_the_single_one(env, sharded):
    single, whole = load_embeddings(env.videos), load_embeddings(sharded)
    assert np.array_equal(single.vectors, whole.vectors) and whole.records == single.records
    assert whole.meta["fingerprint"] == env.fingerprint and whole.meta["count"] == 6
    assert is_sharded(sharded) and not (sharded.parent / "videos.npy").exists()


def test_a_sharded_set_indexes_evaluates_and_searches_like_a_single_one(env, run_cli, sharded, tmp_path):
    import emoret

    for name, out in ((env.videos, tmp_path / "single-idx"), (sharded, tmp_path / "sharded-idx")):
        built = run_cli("index", name, "--out", out)
        assert built.code == 0, built.stderr
    answers = [run_cli("search", "a happy dog", "--index", out, "--top", "6").records
               for out in (tmp_path / "single-idx", tmp_path / "sharded-idx")]
    assert answers[0] == answers[1] and len(answers[0]) == 6
    evaluated = [run_cli("eval", "--texts", env.texts, "--videos", name, "--json").records for name in (env.videos, sharded)]
    assert evaluated[0] == evaluated[1]
    assert emoret.evaluate(env.texts, sharded)["all"] == emoret.evaluate(env.texts, env.videos)["all"]
    annotations = write_captions(tmp_path / "ann.jsonl", [{**r, "joy": int("happy" in r["caption"])} for r in caption_records()])
    drawn = run_cli("tsne", "--texts", env.texts, "--videos", sharded, "--annotations", annotations, "-e", "joy",
                    "-o", tmp_path / "t.png", "--perplexity", "3")
    assert drawn.code == 0, drawn.stderr


def test_a_damaged_or_swapped_shard_is_refused_in_one_line(env, run_cli, sharded, tmp_path):
    listed = orjson.loads((sharded.parent / "videos.meta.json").read_bytes())["shards"]
    second = shards.shards_dir(sharded) / listed[1]["name"]
    other = load_embeddings(env.videos)
    save_embeddings(second, other.vectors[:1] * -1, other.records[:1], other.meta)  # a whole set, not the one listed
    result = run_cli("index", sharded, "--out", tmp_path / "idx")
    assert result.code == 2 and "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert f"{listed[1]['name']}.meta.json" in result.stderr and "another run" in result.stderr
    second.with_suffix(".npy").unlink()
    with pytest.raises(Exception, match="no such file|does not match"):
        load_embeddings(sharded)


def test_shards_without_a_manifest_are_no_set_and_an_old_set_stays_whole(env, tmp_path):
    single = load_embeddings(env.videos)
    save_embeddings(tmp_path / "videos", single.vectors, single.records, single.meta)
    path = shards.shard_path(tmp_path / "videos", 0, "k")
    shards.write_shard(path, single.vectors[:3], single.records[:3], single.meta)  # a job killed after one shard
    kept = load_embeddings(tmp_path / "videos")
    assert not is_sharded(tmp_path / "videos") and np.array_equal(kept.vectors, single.vectors)
    assert shards.checked_shard(path) is not None
    path.with_suffix(".npy").write_bytes(path.with_suffix(".npy").read_bytes()[:-4])  # cut short by a kill
    assert shards.checked_shard(path) is None  # a rerun computes it again


def test_reading_a_sharded_set_holds_one_copy_of_the_vectors(tmp_path):
    rng = np.random.default_rng(0)
    rows, dim = 4_000, 512
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [{"video_id": f"v{i}"} for i in range(rows)]
    write_sharded(tmp_path / "big", vectors, records, {"kind": "videos"}, [1000, 2000, 3000])
    del vectors
    tracemalloc.start()
    loaded = load_embeddings(tmp_path / "big")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = rows * dim * 4
    assert loaded.vectors.shape == (rows, dim)
    # One [N, D] array plus a shard in flight and the records; concatenating the shards would be 2x.
    assert peak < size * 1.5, (peak, size)
    from emoret.embedding.files import combine_embeddings

    assert combine_embeddings([loaded]).vectors is loaded.vectors  # an index builds from this very array
