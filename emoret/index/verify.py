"""Checking an index directory in full: what ``emoret index --verify`` runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from emoret.errors import InputError
from emoret.index import check as index_check
from emoret.index import exact
from emoret.index.lazy_items import LazyItems
from emoret.index.store import INDEX_FILE, ITEMS_FILE, META_FILE, VECTORS_FILE, load_hnsw, map_vectors, read_meta


def verify_index(path: str | os.PathLike) -> dict[str, Any]:
    """Check an index directory in full (``emoret index --verify``): meta.json's fields, every
    file against its listed size and sha256 (and block sums), no file it does not list,
    every item record, and vectors that are finite and of unit length; the graph is then
    loaded. Raises :class:`InputError` (:class:`index_check.IndexDamaged`) at the first
    fault; returns what was checked. An index from before digests gets every check but
    the digests (``digests`` False in the result) and its graph is not loaded.
    """
    path = Path(path)
    meta = read_meta(path)
    names = sorted(entry.name for entry in path.iterdir() if entry.name != META_FILE)
    if index_check.has_digests(meta):
        for name in meta[index_check.FILES_KEY]:
            if (index_check.listed(meta, name) or {}).get("block_sums"):
                index_check.check_block_sums(path, meta, name)
            index_check.check_sha256(path, meta, name)
        for name in names:
            index_check.check_size(path, meta, name)  # refuses a file meta.json does not list
    items = LazyItems.read(path / ITEMS_FILE)
    for _ in items:  # every record parses as a JSON object
        pass
    if len(items) != int(meta["count"]):
        raise InputError(str(path / ITEMS_FILE), f"{len(items)} records, meta.json says {meta['count']}")
    _, vectors = map_vectors(path, meta)
    if vectors is not None:
        _check_unit_rows(path, vectors)
    if index_check.has_digests(meta) and (path / INDEX_FILE).exists():
        load_hnsw(path, meta)
    return {"path": str(path), "count": int(meta["count"]), "dim": int(meta["dim"]), "files": len(names),
            "digests": index_check.has_digests(meta), "vectors": vectors is not None}


def _check_unit_rows(path: Path, vectors: np.ndarray, tolerance: float = 1e-3) -> None:
    for start in range(0, len(vectors), exact.BLOCK_ROWS):
        block = np.asarray(vectors[start : start + exact.BLOCK_ROWS], dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            bad = ~(np.abs(np.linalg.norm(block.astype(np.float64), axis=1) - 1.0) <= tolerance)  # NaN: bad
        if bad.any():
            row = start + int(np.argmax(bad))
            raise index_check.IndexDamaged(path, VECTORS_FILE, f"row {row} is not a finite unit vector")
