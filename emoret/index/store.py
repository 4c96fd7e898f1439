"""The index directory: an hnswlib graph over L2-normalised vectors, and its records.

Layout of ``DIR``::

    index.bin     hnswlib index (inner product; label = row)
    items.jsonl   one record a row (the video record the vector came from)
    vectors.npy   the vectors, so an update can reuse them and rebuild
    meta.json     format, dimension, metric, count, model and its fingerprint, parameters,
                  and (written last) ``files``: the size and digests of every other file,
                  which readers check (see check.py; verify.py checks all)

A new version is written and swapped into place whole (:mod:`emoret.publish`), so a
reader sees the old index or the new one, never half of either. Writers take the lock
beside ``DIR`` (``.DIR.lock``, removed on release): a second writer waits, or with
``wait=False`` fails with :class:`IndexBusy`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from emoret import atomic, publish
from emoret.atomic import save_npy, write_bytes_atomic
from emoret.errors import InputError
from emoret.fields import VideoRecord
from emoret.index import check as index_check
from emoret.index import exact
from emoret.index.graph import build_hnsw
from emoret.index.lazy_items import LazyItems
from emoret.npy_header import read_npy_header
from emoret.publish import resolve_target
from emoret.records import JsonlWriter

FORMAT = "emoret-index"
INDEX_FILE = "index.bin"
ITEMS_FILE = "items.jsonl"
VECTORS_FILE = "vectors.npy"
META_FILE = "meta.json"

DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 200
# Chosen with bench/search.py: recall@10 0.988 on a million embedding-like 512-d vectors
# (256 gave 0.944), at about 7 ms a query.
DEFAULT_EF = 512
DEFAULT_INDEX_DIR = "emoret-index"
# Up to this many items `search` scores every vector instead of walking the graph: exact,
# and a cold query maps vectors.npy instead of loading the graph (0.35 s of CPU at 100k
# items). bench/search.py, 64 piped queries at a time: exact 2.1 ms a query at 100k and
# 20.8 at 1M, the graph (ef 512) 2.4 and 4.1; here exact costs at most about the graph's 1M figure.
EXACT_MAX_ITEMS = 200_000
SEARCH_METHODS = ("auto", "exact", "graph")
# Files a search reads without reading them whole, or large ones it reads at once: checked by their block sums (index_check.py).
BLOCK_SUMMED = (VECTORS_FILE, "text_tower.safetensors", "text_tower.int8.onnx")


class IndexBusy(Exception):
    """Another writer holds the index's lock."""


def default_index_dir() -> Path:
    """``$EMORET_INDEX``, else ``./emoret-index``."""
    return Path(os.environ.get("EMORET_INDEX") or DEFAULT_INDEX_DIR)


@contextlib.contextmanager
def writer_lock(target: str | os.PathLike, wait: bool = True, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the index's writer lock for the duration of the block."""
    try:
        with publish.writer_lock(target, f"{target}: another 'emoret index' is writing this index",
                                 wait=wait, on_wait=on_wait):
            yield
    except atomic.Busy as err:
        raise IndexBusy(str(err)) from None


def max_items_per_video(records: Iterable[dict[str, Any]]) -> int:
    """The most records of one video (:attr:`VideoRecord.key`; 1 when each video has one)."""
    return max(Counter(VideoRecord(record).key for record in records).values(), default=1)


def check_vectors(vectors: np.ndarray, source: str) -> np.ndarray:
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise InputError(source, f"expected a non-empty [N, D] array of vectors, got shape {list(vectors.shape)}")
    if not np.issubdtype(vectors.dtype, np.floating):
        raise InputError(source, f"expected float vectors, got {vectors.dtype}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise InputError(source, "vectors contain NaN or infinity")
    return vectors


def write_index(
    target: str | os.PathLike,
    vectors: np.ndarray,
    records: Sequence[dict[str, Any]],
    meta: dict[str, Any] | None = None,
    m: int = DEFAULT_M,
    ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    ef: int = DEFAULT_EF,
    threads: int = -1,
    extras: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Build and publish an index directory; the caller holds :func:`writer_lock`.

    ``extras(staging)`` may add files (the query export) before the index is published.
    Returns the meta written.
    """
    target = resolve_target(target)
    vectors = check_vectors(vectors, str(target))
    if len(records) != len(vectors):
        raise InputError(str(target), f"{len(vectors)} vectors but {len(records)} records")
    refuse_foreign_directory(target)
    full_meta = {
        "format": FORMAT,
        "version": 1,
        "build_id": uuid.uuid4().hex,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dim": int(vectors.shape[1]),
        "metric": "ip",
        "count": len(vectors),
        "m": m,
        "ef_construction": ef_construction,
        "ef": ef,
        "model": None,
        "fingerprint": None,
        **(meta or {}),
        "max_items_per_video": max_items_per_video(records),  # lets a search skip reading every item
    }
    with publish.staged(target) as staging:
        index = build_hnsw(vectors, m=m, ef_construction=ef_construction, threads=threads)
        index.save_index(str(staging / INDEX_FILE))
        publish.raise_if_disk_filled(staging / INDEX_FILE)
        with open(staging / VECTORS_FILE, "wb") as handle:
            save_npy(handle, vectors)
        with JsonlWriter(staging / ITEMS_FILE) as writer:
            writer.write_all(records)
        if extras is not None:
            extras(staging)
        full_meta[index_check.FILES_KEY] = index_check.digest_directory(staging, BLOCK_SUMMED, skip=META_FILE)
        # meta.json last: a directory with meta.json is complete.
        full_meta = index_check.seal_meta(full_meta)
        write_bytes_atomic(staging / META_FILE, orjson.dumps(full_meta, option=orjson.OPT_INDENT_2))
    return full_meta


def refuse_foreign_directory(target: Path) -> None:
    """Never replace a directory that is not an emoret index (it would be deleted)."""
    if target.exists() and not target.is_dir():
        raise InputError(str(target), "exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not _is_index(target):
        raise InputError(str(target), "exists and is not an emoret index; choose another path")


def _is_index(path: Path) -> bool:
    try:
        return orjson.loads((path / META_FILE).read_bytes()).get("format") == FORMAT
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return False


@dataclass
class Hit:
    rank: int
    score: float
    item: dict[str, Any]


@dataclass
class Index:
    """An opened index directory.

    ``vectors`` is a memory map of ``vectors.npy``, taken while the directory was
    consistent, so it stays this version's even if a writer swaps in a new one.
    The hnswlib graph is loaded on the first graph search (see :meth:`search`).
    """

    path: Path
    meta: dict[str, Any]
    items: Sequence[dict[str, Any]]
    stored_vectors: np.ndarray | None = None
    _graph: Any = None
    vectors_file: np.ndarray | None = None  # the whole of vectors.npy, mapped with stored_vectors
    _vectors_checked: bool = False
    _vectors_check: index_check.Background | None = None

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    def __len__(self) -> int:
        return len(self.items)

    @property
    def hnsw(self) -> Any:
        """The hnswlib graph, loaded on first use (checked to be of this version)."""
        if self._graph is None:
            try:
                graph = load_hnsw(self.path, self.meta)
            finally:  # a digest that fails because a writer swapped in a new version: say so
                if read_meta(self.path).get("build_id") != self.meta.get("build_id"):
                    raise InputError(str(self.path), "the index was rebuilt while being read; try again")
            self._graph = graph
        return self._graph

    @property
    def checked(self) -> bool:
        """Whether its meta.json lists its files' digests (False: built before they existed)."""
        return index_check.has_digests(self.meta)

    def start_vectors_check(self) -> None:
        """Begin checking vectors.npy on another thread (an exact search waits for it)."""
        if self._vectors_check is None and self.vectors_file is not None and self.checked:
            self._vectors_check = index_check.Background(
                index_check.check_block_sums, self.path, self.meta, VECTORS_FILE, self.vectors_file)

    def _check_vectors(self) -> None:
        """vectors.npy's block sums against meta.json's, once (15-50 ms at 100,000 x 512)."""
        if not self._vectors_checked:
            self.start_vectors_check()
            if self._vectors_check is not None:
                self._vectors_check.join()
        self._vectors_checked = True

    def uses_exact(self, ef: int | None = None, method: str = "auto") -> bool:
        """Whether :meth:`search` scores every vector (see ``method`` there)."""
        if method not in SEARCH_METHODS:
            raise ValueError(f"unknown search method {method!r}: choose from {', '.join(SEARCH_METHODS)}")
        if method != "auto":
            return method == "exact"
        return self.stored_vectors is not None and ef is None and len(self) <= EXACT_MAX_ITEMS

    def search(self, queries: np.ndarray, top: int = 10, ef: int | None = None, method: str = "auto") -> list[list[Hit]]:
        """The ``top`` best items for each query row, best first.

        ``method``: ``"exact"`` scores every stored vector; ``"graph"`` walks the hnswlib
        graph with breadth ``ef`` (default: the index's); ``"auto"``: exact up to
        EXACT_MAX_ITEMS items unless ``ef`` is given, else the graph.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise InputError(str(self.path), f"index has dimension {self.dim}, query has {queries.shape[1]}")
        k = min(top, len(self))
        if self.uses_exact(ef, method):
            if self.stored_vectors is None:
                raise InputError(str(self.path), f"no {VECTORS_FILE} to search exactly")
            self._check_vectors()
            rows, scores = exact.top_k(self.stored_vectors, queries, k)
            index_check.check_scores(scores, self.path, VECTORS_FILE)
        else:
            self.hnsw.set_ef(max(ef or int(self.meta.get("ef") or DEFAULT_EF), k))
            rows, distances = self.hnsw.knn_query(queries, k=k)
            scores = 1.0 - distances
            index_check.check_scores(scores, self.path, INDEX_FILE)
            if rows.size and not 0 <= int(rows.min()) <= int(rows.max()) < len(self):
                raise index_check.IndexDamaged(self.path, INDEX_FILE, "gave a label outside its items")
            order = np.argsort(-scores, axis=1, kind="stable")
            rows, scores = np.take_along_axis(rows, order, axis=1), np.take_along_axis(scores, order, axis=1)
        return [
            [Hit(rank + 1, float(score), self.items[int(row)]) for rank, (row, score) in enumerate(zip(row_ids, row_scores, strict=True))]
            for row_ids, row_scores in zip(rows, scores, strict=True)
        ]

    def vectors(self) -> np.ndarray:
        if self.stored_vectors is None:
            raise index_check.IndexDamaged(self.path, VECTORS_FILE, "missing, or not the [count, dim] float32 array "
                                           "meta.json describes")
        self._check_vectors()
        return self.stored_vectors


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such index directory (build one with 'emoret index')")
    if not path.is_dir():
        raise InputError(str(path), "is not an index directory")
    try:
        meta = orjson.loads((path / META_FILE).read_bytes())
    except FileNotFoundError:
        raise InputError(str(path), "not an emoret index (no meta.json)") from None
    except orjson.JSONDecodeError:
        raise InputError(str(path / META_FILE), "malformed JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(str(path / META_FILE), "not an emoret index")
    index_check.validate_meta(meta, str(path / META_FILE))
    return meta


def open_index(path: str | os.PathLike, attempts: int = 5) -> Index:
    """Load an index directory, consistent even while a writer swaps in a new version.

    The build id in meta.json is read before and after the other files; when it
    changed (or a file vanished mid-read) the load starts again.
    """
    path = Path(path)
    meta: dict[str, Any] = {}
    for attempt in range(attempts):
        try:
            meta = read_meta(path)
            # A search parses only its hits, but reads the whole file: its sha256 costs little.
            items = LazyItems.read(path / ITEMS_FILE, functools.partial(index_check.check_sha256, path, meta, ITEMS_FILE))
            raw, vectors = map_vectors(path, meta)
            graph = None if vectors is not None else load_hnsw(path, meta)
            if read_meta(path).get("build_id") == meta.get("build_id"):
                if len(items) != int(meta["count"]):
                    raise InputError(str(path), f"meta.json says {meta['count']} items, items.jsonl has {len(items)}")
                index = Index(path, meta, items, vectors, graph, vectors_file=raw)
                if index.uses_exact():
                    index.start_vectors_check()  # while the caller loads its query encoder
                return index
        except (FileNotFoundError, InputError, RuntimeError):
            # A file that fails its digest because a new version landed mid-read: read again.
            if attempt == attempts - 1 or not (publish.may_be_swapping(path) or _rebuilt_since(path, meta)):
                raise
        time.sleep(0.05 * (attempt + 1))
    raise InputError(str(path), "the index kept changing while being read; try again")


def _rebuilt_since(path: Path, meta: dict[str, Any]) -> bool:
    try:
        return bool(meta) and read_meta(path).get("build_id") != meta.get("build_id")
    except InputError:
        return False


def map_vectors(directory: Path, meta: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(the whole file, its [count, dim] float32 rows), both views of one memory map of
    ``vectors.npy``; (None, None) where an index without digests has none of that shape.
    Listed in meta.json, a file of another size or shape is refused."""
    path = directory / VECTORS_FILE
    expected = (int(meta["count"]), int(meta["dim"]))
    try:
        index_check.check_size(directory, meta, VECTORS_FILE)
        raw = index_check.map_file(path)
        shape, dtype, offset = read_npy_header(io.BytesIO(bytes(raw[:65536])))
        if dtype != np.float32 or tuple(shape) != expected or len(raw) != offset + expected[0] * expected[1] * 4:
            raise ValueError(f"{dtype} {list(shape)} in {len(raw)} bytes, not float32 {list(expected)}")
    except (OSError, ValueError) as err:
        if index_check.listed(meta, VECTORS_FILE) is not None:
            raise index_check.IndexDamaged(directory, VECTORS_FILE, f"not the array meta.json describes ({err})") from None
        return None, None
    return raw, raw[offset:].view(np.float32).reshape(expected)


def load_hnsw(directory: Path, meta: dict[str, Any]) -> Any:
    """The hnswlib graph, read only once its sha256 matches meta.json's (a damaged graph can
    crash hnswlib: no digest, no load)."""
    import hnswlib

    path = directory / INDEX_FILE
    if not path.exists():
        raise FileNotFoundError(str(path))
    if not index_check.has_digests(meta):
        raise InputError(str(path), "this index was built before indexes carried digests, so its graph cannot be "
                                    "checked before hnswlib reads it; rebuild it with 'emoret index'")
    index_check.check_sha256(directory, meta, INDEX_FILE)
    dim, count = int(meta["dim"]), int(meta["count"])
    index = hnswlib.Index(space="ip", dim=dim)
    try:
        index.load_index(str(path), max_elements=count)
    except RuntimeError as err:
        raise InputError(str(path), f"cannot read the hnswlib index ({err})") from None
    if index.get_current_count() != count:
        raise index_check.IndexDamaged(directory, INDEX_FILE, f"holds {index.get_current_count()} items, not {count}")
    index.set_num_threads(os.cpu_count() or 1)  # a batch of piped queries splits across cores
    return index
