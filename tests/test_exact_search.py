"""Exact search over the stored vectors: the default up to EXACT_MAX_ITEMS, the graph beyond."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emoret.errors import InputError
from emoret.index import exact, store
from emoret.query import search as searching


def unit(n, dim, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _relist(path):
    """meta.json's file digests made again for the files as they are now."""
    from emoret.index import check as index_check

    meta = json.loads((path / store.META_FILE).read_text())
    meta["files"] = index_check.digest_directory(path, store.BLOCK_SUMMED, skip=store.META_FILE)
    (path / store.META_FILE).write_text(json.dumps(index_check.seal_meta(meta)))


def build(path, vectors, tag="a", records=None):
    records = records or [{"video_id": f"{tag}{i}"} for i in range(len(vectors))]
    with store.writer_lock(path):
        return store.write_index(path, vectors, records, {"model": "m", "fingerprint": "f"})


@pytest.mark.parametrize("block_rows", [7, 64, 65_536])
def test_top_k_in_blocks_equals_a_full_sort(block_rows):
    vectors, queries = unit(500, 12), unit(6, 12, seed=1)
    rows, scores = exact.top_k(vectors, queries, 10, block_rows=block_rows)
    full = queries @ vectors.T
    for q in range(len(queries)):
        expected = np.argsort(-full[q], kind="stable")[:10]
        assert rows[q].tolist() == expected.tolist()
        assert np.allclose(scores[q], full[q, expected], atol=1e-6)


def test_top_k_keeps_row_order_among_equal_scores_and_caps_k():
    vectors = np.array([[1, 0], [0, 1], [1, 0], [1, 0]], dtype=np.float32)
    rows, scores = exact.top_k(vectors, np.array([[1, 0]], dtype=np.float32), 10, block_rows=2)
    assert rows.tolist() == [[0, 2, 3, 1]] and scores.tolist() == [[1, 1, 1, 0]]


def test_exact_and_graph_agree_with_numpy_and_auto_picks_exact(tmp_path, monkeypatch):
    vectors, queries = unit(400, 16), unit(5, 16, seed=1)
    build(tmp_path / "idx", vectors)
    index = store.open_index(tmp_path / "idx")
    expected = [[f"a{i}" for i in np.argsort(-(vectors @ q))[:10]] for q in queries]
    for method, ef in (("exact", None), ("graph", 400), ("auto", None)):
        hits = index.search(queries, top=10, ef=ef, method=method)
        assert [[h.item["video_id"] for h in row] for row in hits] == expected, method
        assert all([h.rank for h in row] == list(range(1, 11)) for row in hits)
    assert index.uses_exact() and not index.uses_exact(ef=64) and not index.uses_exact(method="graph")
    monkeypatch.setattr(store, "EXACT_MAX_ITEMS", 399)
    assert not index.uses_exact()
    with pytest.raises(ValueError, match="unknown search method"):
        index.search(queries, method="fast")


def test_exact_search_never_loads_the_graph(tmp_path, monkeypatch):
    vectors = unit(50, 8)
    build(tmp_path / "idx", vectors)

    def no_graph(*args, **kwargs):
        raise AssertionError("the graph was loaded")

    monkeypatch.setattr(store, "load_hnsw", no_graph)
    hits = store.open_index(tmp_path / "idx").search(vectors[3], top=3)
    assert hits[0][0].item["video_id"] == "a3" and hits[0][0].score == pytest.approx(1.0, abs=1e-6)


def test_an_open_index_keeps_its_version_across_a_rebuild(tmp_path):
    old = unit(20, 8)
    build(tmp_path / "idx", old, tag="old")
    index = store.open_index(tmp_path / "idx")
    build(tmp_path / "idx", unit(30, 8, seed=5), tag="new")
    hits = index.search(old[4], top=1)[0]  # the memory map still holds the old vectors
    assert hits[0].item["video_id"] == "old4" and hits[0].score == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(InputError, match="rebuilt while being read"):
        index.search(old[4], top=1, method="graph")  # the graph on disk is the new version's


def test_an_index_without_its_vectors_file_is_searched_through_the_graph(tmp_path):
    vectors = unit(30, 8)
    build(tmp_path / "idx", vectors)
    (tmp_path / "idx" / store.VECTORS_FILE).unlink()
    _relist(tmp_path / "idx")  # built without it (a file listed in meta.json and missing is refused)
    index = store.open_index(tmp_path / "idx")
    assert not index.uses_exact()
    assert index.search(vectors[7], top=1, ef=64)[0][0].item["video_id"] == "a7"
    with pytest.raises(InputError, match="no vectors.npy"):
        index.search(vectors[7], method="exact")


def test_a_search_parses_only_the_records_of_its_hits(tmp_path):
    vectors = unit(40, 8)
    build(tmp_path / "idx", vectors)
    items = tmp_path / "idx" / store.ITEMS_FILE
    lines = items.read_bytes().splitlines(keepends=True)
    lines[30] = b'{"video_id": \n'  # damaged, far from the query's neighbours
    items.write_bytes(b"".join(lines))
    _relist(tmp_path / "idx")  # as written (its digest would refuse it otherwise)
    index = store.open_index(tmp_path / "idx")
    query = vectors[2] + 0.01 * vectors[3]
    away = [int(i) for i in np.argsort(-(vectors @ query))[:3]]
    assert 30 not in away
    hits = searching.search(index, _Encoder(query), ["q"], top=3, emotions="none")
    assert [h.item["video_id"] for h in hits[0]] == [f"a{i}" for i in away]


def test_the_meta_records_the_most_moments_a_video_has(tmp_path):
    records = [{"video_id": "a", "path": "/v/a.mp4", "start": s} for s in (0, 5, 10)] + [{"video_id": "b", "path": "/v/b.mp4"}]
    meta = build(tmp_path / "idx", unit(4, 8), records=records)
    assert meta["max_items_per_video"] == 3
    assert searching.items_a_video(store.open_index(tmp_path / "idx")) == 3


class _Encoder:
    """Stands for the numpy text encoder: every query embeds to one fixed vector."""

    embed_dim = 8

    def __init__(self, vector):
        self.vector = (vector / np.linalg.norm(vector)).astype(np.float32)

    def encode_queries(self, texts, emotions=None):
        return np.stack([self.vector for _ in texts])


@pytest.mark.parametrize(("rows", "k", "queries"), [(64 * 40, 10, 5), (64 * 40 + 17, 18, 3), (300, 18, 2),
                                                    (64 * 5, 5, 4), (64 * 5 + 1, 5, 1), (7, 10, 2)])
def test_each_blocks_best_are_every_columns_k_largest(rows, k, queries):
    """The chunked pick equals a full sort, including a short last chunk and near-equal scores."""
    rng = np.random.default_rng(rows + k)
    scores = rng.standard_normal((rows, queries)).astype(np.float32)
    scores[rng.integers(0, rows, 20)] += 3.0  # some clustered highs, several in one chunk
    scores[-1] = 9.0  # the very last row is a column's best
    positions, values = exact._column_top(scores, k)
    want = min(k, rows)
    assert positions.shape == values.shape == (queries, want)
    for column in range(queries):
        expected = np.sort(scores[:, column])[::-1][:want]
        assert np.array_equal(np.sort(values[column])[::-1], expected)
        assert np.array_equal(scores[positions[column], column], values[column])


def test_the_onnx_scan_scores_as_numpy_does():
    vectors, queries = unit(3000, 24), unit(5, 24, seed=2)
    scan = exact._onnx_scan()
    assert scan is not None  # onnxruntime is a dependency
    assert np.allclose(scan(vectors, np.ascontiguousarray(queries.T)), vectors @ queries.T, atol=1e-5)


def test_the_onnx_scan_waits_for_large_blocks_searched_again_and_again(monkeypatch):
    used = []
    monkeypatch.setattr(exact, "_onnx_scan", lambda: lambda block, queries_t: used.append(len(block)) or block @ queries_t)
    monkeypatch.setattr(exact, "ONNX_SCAN_MIN_ROWS", 100)
    monkeypatch.setattr(exact, "_large_scans", [0])
    vectors, queries = unit(150, 8), unit(3, 8, seed=2)
    exact.block_scores(vectors[:99], queries)  # a small block: never
    exact.block_scores(vectors, queries[:1])  # one query: never
    exact.block_scores(vectors, unit(exact.ONNX_SCAN_MAX_QUERIES + 1, 8))  # many: numpy's product is the faster
    for _ in range(exact.ONNX_SCAN_AFTER):
        exact.block_scores(vectors, queries)  # the first few large ones: numpy (a cold search pays no session)
    assert used == []
    exact.block_scores(vectors, queries)
    assert used == [150]
    monkeypatch.setattr(exact, "_large_scans", [0])
    assert exact.prepare_scan()
    exact.block_scores(vectors, queries)
    assert used == [150, 150]


def test_hits_do_not_depend_on_what_scored_the_blocks(monkeypatch):
    # Close scores (many near-ties) are where two products' last bits could reorder candidates.
    rng = np.random.default_rng(3)
    base = unit(1, 32, seed=4)
    vectors = base + 1e-3 * rng.standard_normal((5000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = unit(9, 32, seed=5) * 0.1 + base
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    monkeypatch.setattr(exact, "ONNX_SCAN_MIN_ROWS", 0)
    monkeypatch.setattr(exact, "_large_scans", [exact.ONNX_SCAN_AFTER])
    onnx_rows, onnx_scores = exact.top_k(vectors, queries, 10, block_rows=1024)
    monkeypatch.setattr(exact, "_onnx_scan", lambda: None)
    numpy_rows, numpy_scores = exact.top_k(vectors, queries, 10, block_rows=1024)
    assert onnx_rows.tolist() == numpy_rows.tolist()
    assert onnx_scores.tobytes() == numpy_scores.tobytes()


def test_the_onnx_scan_reads_a_read_only_memory_map(tmp_path, monkeypatch):
    """An index's vectors are a read-only memory map of vectors.npy."""
    vectors, queries = unit(2000, 16, seed=7), unit(3, 16, seed=8)
    np.save(tmp_path / "v.npy", vectors)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    used = []
    real = exact._onnx_scan()
    monkeypatch.setattr(exact, "_onnx_scan", lambda: lambda block, queries_t: used.append(1) or real(block, queries_t))
    monkeypatch.setattr(exact, "ONNX_SCAN_MIN_ROWS", 0)
    monkeypatch.setattr(exact, "_large_scans", [exact.ONNX_SCAN_AFTER])
    rows, _ = exact.top_k(mapped, queries, 5, block_rows=512)
    assert used and rows.tolist() == np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :5].tolist()


def test_without_onnxruntime_the_scan_is_numpys(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    monkeypatch.setattr(exact, "ONNX_SCAN_MIN_ROWS", 0)
    monkeypatch.setattr(exact, "_large_scans", [exact.ONNX_SCAN_AFTER])
    exact._onnx_scan.cache_clear()
    try:
        assert exact._onnx_scan() is None
        vectors, queries = unit(300, 8), unit(4, 8, seed=6)
        rows, _ = exact.top_k(vectors, queries, 5)
        assert rows.tolist() == np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :5].tolist()
    finally:
        exact._onnx_scan.cache_clear()
