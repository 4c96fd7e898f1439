"""The hnswlib graph of an index: built in short calls, so Ctrl-C is heard during a build."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np


def build_hnsw(vectors: np.ndarray, m: int, ef_construction: int, threads: int = -1) -> Any:
    """An hnswlib inner-product index over the rows (label = row number)."""
    import hnswlib

    index = hnswlib.Index(space="ip", dim=int(vectors.shape[1]))
    index.init_index(max_elements=len(vectors), M=m, ef_construction=ef_construction, random_seed=0)
    index.set_num_threads(threads if threads > 0 else (os.cpu_count() or 1))
    _add_in_short_calls(index, vectors)
    return index


def _add_in_short_calls(index: Any, vectors: np.ndarray, seconds: float = 0.1) -> None:
    """Add the rows in blocks sized to take about ``seconds`` each.

    Python handles a signal only between calls: one call for all rows would keep
    Ctrl-C waiting for the whole build (seconds, minutes on a large set).
    """
    block, start = 64, 0
    while start < len(vectors):
        stop = min(start + block, len(vectors))
        began = time.monotonic()
        index.add_items(vectors[start:stop], np.arange(start, stop))
        elapsed = max(time.monotonic() - began, 1e-4)
        block = int(min(max(block * seconds / elapsed, 16), 2 * block, 65536))
        start = stop
