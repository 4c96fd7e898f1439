"""Exact inner-product top-k over the index's stored vectors (numpy, no graph).

Up to a few hundred thousand items, scoring every vector with one matrix product is
faster than hnswlib: a cold ``emoret search`` maps ``vectors.npy`` instead of loading the
graph (0.35 s of CPU at 100,000 items), and a batch of piped queries costs a BLAS
product instead of one graph walk a query. It is also exact: recall 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

# Rows scored at a time: bounds the [queries, rows] score block (64 queries × 65,536 rows:
# 16 MiB) however large the index.
BLOCK_ROWS = 65_536
# Candidates kept past ``k`` before they are scored again one query at a time: items within a
# rounding error of the k-th are then ranked by the same arithmetic whatever the batch.
RESCORE_MARGIN = 8
# Rows a chunk when each block's best are picked (see _column_top).
CHUNK_ROWS = 64
# Blocks of at least ONNX_SCAN_MIN_ROWS rows scored for ONNX_SCAN_MIN_QUERIES to
# ONNX_SCAN_MAX_QUERIES queries are scored by ONNX Runtime's matrix product once a process has
# scored ONNX_SCAN_AFTER such blocks (or called prepare_scan). OpenBLAS multiplies by a few query
# columns at a third of the memory's speed (8 queries × 100,000 × 512: 35 ms, ONNX Runtime 17 ms
# alone, 31 ms right after numpy's products, whose spinning threads take its cores; at 64 queries
# numpy is the faster: bench/scan.py); a server answering the queries it keeps (no tower before
# the scan) gained most. The session costs 0.24 s to make, repaid only by a process that searches
# again and again (``search -``, the server), not by one cold search; one query is a
# matrix-vector product, memory-bound either way. Only which candidates are kept comes from this
# product: their scores, and so the hits, come from ``rescore`` whichever scored the block.
ONNX_SCAN_MIN_QUERIES = 2
ONNX_SCAN_MAX_QUERIES = 16
ONNX_SCAN_MIN_ROWS = 32_768
ONNX_SCAN_AFTER = 4
_large_scans = [0]  # such blocks scored so far in this process


def top_k(vectors: np.ndarray, queries: np.ndarray, k: int, block_rows: int = BLOCK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """(rows [Q, k], scores [Q, k]) of the ``k`` largest inner products of each query,
    best first (equal scores in row order). ``vectors`` may be a memory map."""
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    count = len(vectors)
    k = min(k, count)
    wanted = min(k + RESCORE_MARGIN, count)
    best_rows = np.empty((len(queries), 0), dtype=np.int64)
    best_scores = np.empty((len(queries), 0), dtype=np.float32)
    for start in range(0, count, block_rows):
        block = np.asarray(vectors[start : start + block_rows], dtype=np.float32)
        rows, kept = _column_top(block_scores(block, queries), wanted)
        best_rows = np.concatenate([best_rows, rows + start], axis=1)
        best_scores = np.concatenate([best_scores, kept], axis=1)
        if best_rows.shape[1] > wanted:
            rows, best_scores = _row_top(best_scores, wanted)
            best_rows = np.take_along_axis(best_rows, rows, axis=1)
    best_scores = rescore(vectors, queries, best_rows)
    order = (np.lexsort((best_rows, -best_scores), axis=1) if len(queries) else best_rows)[:, :k]
    return np.take_along_axis(best_rows, order, axis=1), np.take_along_axis(best_scores, order, axis=1)


def block_scores(block: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """[rows, Q] inner products of a block of vectors with the queries ([rows, Q]: the faster layout)."""
    scan = None
    if ONNX_SCAN_MIN_QUERIES <= len(queries) <= ONNX_SCAN_MAX_QUERIES and len(block) >= ONNX_SCAN_MIN_ROWS:
        _large_scans[0] += 1
        if _large_scans[0] > ONNX_SCAN_AFTER:
            scan = _onnx_scan()
    return block @ queries.T if scan is None else scan(block, np.ascontiguousarray(queries.T))


def prepare_scan() -> bool:
    """Make the ONNX Runtime scan now (a long-lived process, before its first search), so that
    large blocks use it from the first; whether it is there."""
    _large_scans[0] = max(_large_scans[0], ONNX_SCAN_AFTER)
    return _onnx_scan() is not None


@functools.cache
def _onnx_scan() -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """``block @ queries_t`` on ONNX Runtime (one session for the process), or None without it."""
    try:
        import onnxruntime  # type: ignore[import-untyped]  # noqa: F401
        from onnx import TensorProto, helper
    except ImportError:
        return None
    from emoret.ort_session import cpu_session

    product = helper.make_node("MatMul", ["block", "queries_t"], ["scores"])
    graph = helper.make_graph([product], "emoret_scan", [
        helper.make_tensor_value_info("block", TensorProto.FLOAT, ["rows", "dim"]),
        helper.make_tensor_value_info("queries_t", TensorProto.FLOAT, ["dim", "queries"]),
    ], [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["rows", "queries"])])
    session = cpu_session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())

    def scan(block: np.ndarray, queries_t: np.ndarray) -> np.ndarray:
        return session.run(["scores"], {"block": block, "queries_t": queries_t})[0]

    return scan


def rescore(vectors: np.ndarray, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """[Q, k] inner products of each query with its ``rows``, one query at a time in a fixed
    order: a BLAS product's last bits depend on how many queries it multiplied at once (a
    one-row product takes another kernel), and a hit's score must not depend on the queries
    it was searched with (``search -``, the server's batches)."""
    candidates = np.asarray(vectors[rows.ravel()], dtype=np.float32).reshape(*rows.shape, -1)
    return (candidates * queries[:, None, :]).sum(axis=2, dtype=np.float32)


def _row_top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and values of each row's ``k`` largest scores (unordered)."""
    if scores.shape[1] <= k:
        positions = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
        return positions, scores
    positions = np.argpartition(scores, scores.shape[1] - k, axis=1)[:, -k:]
    return positions, np.take_along_axis(scores, positions, axis=1)


def _column_top(scores: np.ndarray, k: int, chunk: int = CHUNK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """[Q, k] row positions and values of the ``k`` largest of each column of ``scores`` [rows, Q]
    (unordered). Exact without a full partition: an item among its column's k best lies in a
    chunk whose largest score is among the k largest chunk maxima (else k chunks, each with a
    larger score, would beat it), so only those k chunks are partitioned (2.5x faster at 64
    queries × 65,536 rows)."""
    rows, columns = scores.shape
    whole = rows // chunk * chunk
    if whole // chunk <= k:
        return _row_top(np.ascontiguousarray(scores.T), k)
    maxima = scores[:whole].reshape(-1, chunk, columns).max(axis=1)
    chunks = np.argpartition(maxima, len(maxima) - k, axis=0)[-k:]
    candidates = (chunks[:, None, :] * chunk + np.arange(chunk)[None, :, None]).reshape(-1, columns)
    if whole < rows:  # the last rows, short of a chunk, are candidates as they are
        tail = np.broadcast_to(np.arange(whole, rows)[:, None], (rows - whole, columns))
        candidates = np.concatenate([candidates, tail])
    values = np.take_along_axis(scores, candidates, axis=0)
    picked = np.argpartition(values, len(values) - k, axis=0)[-k:]
    return np.take_along_axis(candidates, picked, axis=0).T, np.take_along_axis(values, picked, axis=0).T
