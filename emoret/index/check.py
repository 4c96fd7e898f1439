"""An index directory that proves itself: its meta.json checked, its files' digests.

``write_index`` lists every file of the directory in meta.json (written last) under
``files``: ``{"size", "sha256"}`` each, and for the two large files a search reads
without reading them whole (``vectors.npy``, scored where it is mapped, and the query
tower, mapped) also ``block_sums``: a sha256 over 64-bit sums of the file's 512-byte
blocks and of each word position within them (see :func:`block_sums`), which numpy
computes at memory speed (a quarter to a tenth of sha256's time). It catches every
flipped bit, cut, any two words swapped, a file of another build; what it can miss is
several words changed so that their changes cancel in both sums.

What a search checks (cheap, always): meta.json's fields, each file's size, the
sha256 of ``items.jsonl`` (read whole anyway), the block sums of ``vectors.npy`` (when it
is scored) and of the tower, the sha256 of the tower's small files, the full sha256 of
``index.bin`` before hnswlib reads it, and that every score is one a unit-vector index
can give. :func:`emoret.index.verify.verify_index` (``emoret index --verify``) checks every digest in full.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from emoret.errors import InputError

FILES_KEY = "files"
BLOCK_BYTES = 512
_CHUNK_BLOCKS = 4096  # 2 MB a step: the position sums read what the block sums just brought into the cache
# A unit query against unit vectors scores within [-1, 1]; float32 rounding adds far less.
SCORE_SLACK = 1e-3
_HEX = frozenset("0123456789abcdef")


class IndexDamaged(InputError):
    """A file of an index directory is not the one its meta.json lists (or gives impossible scores)."""

    def __init__(self, directory: str | os.PathLike, name: str, why: str):
        super().__init__(str(Path(directory) / name),
                         f"{why}; run 'emoret index --verify {directory}' (and rebuild the index if it fails)")


# --- digests ------------------------------------------------------------------------------

def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def block_sums(data: np.ndarray | bytes) -> str:
    """sha256 of the file's length, then the 64-bit sums (mod 2^64) of each 512-byte block
    (the last one zero-padded), then the sums of each of a block's 64 word positions over
    all blocks. A changed word changes its block's sum; two words swapped change the block
    sums (in two blocks) or the position sums (within one). Computed a few MB at a time,
    so the second sum reads from the cache: about as fast as the first alone."""
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data.reshape(-1)
    whole = len(raw) // BLOCK_BYTES * BLOCK_BYTES
    tail = np.zeros(BLOCK_BYTES, np.uint8)
    tail[: len(raw) - whole] = raw[whole:]
    blocks = raw[:whole].view("<u8").reshape(-1, BLOCK_BYTES // 8)
    sums = np.empty(len(blocks) + 1, np.uint64)
    positions = tail.view("<u8").astype(np.uint64)
    sums[-1] = positions.sum(dtype=np.uint64)
    for start in range(0, len(blocks), _CHUNK_BLOCKS):
        chunk = blocks[start : start + _CHUNK_BLOCKS]
        np.sum(chunk, axis=1, dtype=np.uint64, out=sums[start : start + len(chunk)])
        positions += chunk.sum(axis=0, dtype=np.uint64)
    digest = hashlib.sha256(len(raw).to_bytes(8, "little"))
    digest.update(sums.astype("<u8").tobytes())
    digest.update(positions.astype("<u8").tobytes())
    return digest.hexdigest()


def map_file(path: str | os.PathLike) -> np.ndarray:
    """The file's bytes as a read-only memory map (an empty array for an empty file)."""
    if os.path.getsize(path) == 0:
        return np.zeros(0, np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")


def file_entry(path: Path, with_block_sums: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    if with_block_sums:
        entry["block_sums"] = block_sums(map_file(path))
    return entry


def digest_directory(directory: Path, block_summed: Iterable[str], skip: str) -> dict[str, dict[str, Any]]:
    """``files`` for meta.json: every regular file of ``directory`` but ``skip`` (meta.json itself)."""
    summed = set(block_summed)
    return {path.name: file_entry(path, path.name in summed)
            for path in sorted(directory.iterdir()) if path.is_file() and path.name != skip}


# --- meta.json ----------------------------------------------------------------------------

META_DIGEST_KEY = "meta_sha256"


def meta_digest(meta: dict[str, Any]) -> str:
    """sha256 of meta.json's fields but this one, keys sorted (orjson: the same bytes for the same values)."""
    import orjson

    return hashlib.sha256(orjson.dumps({k: v for k, v in meta.items() if k != META_DIGEST_KEY},
                                       option=orjson.OPT_SORT_KEYS)).hexdigest()


def seal_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with its own digest, the last thing written: any later edit of meta.json shows."""
    return {**meta, META_DIGEST_KEY: meta_digest(meta)}


def check_meta_digest(meta: dict[str, Any], source: str) -> None:
    recorded = meta.get(META_DIGEST_KEY)
    if recorded is not None and recorded != meta_digest(meta):
        raise InputError(source, "edited since the index was written (its meta_sha256 differs); "
                                 "rebuild the index with 'emoret index'")

def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_INT_FIELDS = {"dim": 1, "count": 0, "m": 1, "ef_construction": 1, "ef": 1, "max_items_per_video": 1, "version": 1}
_TEXT_FIELDS = ("build_id", "model", "fingerprint", "metric", "sampling", "created", "source")


def validate_meta(meta: dict[str, Any], source: str) -> None:
    """Refuse a meta.json whose fields a reader relies on have the wrong type or range (one line)."""
    for name in ("dim", "count"):
        if name not in meta:
            raise InputError(source, f"field {name!r} is missing")
    for name, least in _INT_FIELDS.items():
        if name in meta and not (_int(meta[name]) and meta[name] >= least):
            raise InputError(source, f"field {name!r} must be an integer ≥ {least}, not {_shown(meta[name])}")
    for name in _TEXT_FIELDS:
        if meta.get(name) is not None and not isinstance(meta[name], str):
            raise InputError(source, f"field {name!r} must be a string, not {_shown(meta[name])}")
    if meta.get("metric", "ip") != "ip":
        raise InputError(source, f"field 'metric' must be \"ip\", not {_shown(meta['metric'])}")
    if FILES_KEY in meta:
        _validate_files(meta[FILES_KEY], source)
    check_meta_digest(meta, source)


def _validate_files(files: Any, source: str) -> None:
    if not isinstance(files, dict):
        raise InputError(source, f"field {FILES_KEY!r} must be an object, not {_shown(files)}")
    for name, entry in files.items():
        where = f"{FILES_KEY}.{name}"
        if not isinstance(entry, dict) or not (_int(entry.get("size")) and entry["size"] >= 0):
            raise InputError(source, f"field {where!r} must hold a size (an integer ≥ 0)")
        for key in ("sha256", "block_sums"):
            value = entry.get(key)
            if (key == "sha256" or value is not None) and not (
                    isinstance(value, str) and len(value) == 64 and set(value) <= _HEX):
                raise InputError(source, f"field '{where}.{key}' must be a sha256 (64 hex digits)")
        if os.sep in name or name in ("", ".", ".."):
            raise InputError(source, f"field {FILES_KEY!r} names {_shown(name)}, not a file of the index")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- checks -------------------------------------------------------------------------------

def listed(meta: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The file's entry in meta.json, or None for an index written before digests."""
    files = meta.get(FILES_KEY)
    return files.get(name) if isinstance(files, dict) else None


def has_digests(meta: dict[str, Any]) -> bool:
    """Whether meta.json lists its files' digests (an index built before them does not)."""
    return isinstance(meta.get(FILES_KEY), dict) or META_DIGEST_KEY in meta


def check_size(directory: Path, meta: dict[str, Any], name: str, size: int | None = None) -> None:
    entry = listed(meta, name)
    if entry is None:
        if has_digests(meta) and (directory / name).exists():
            raise IndexDamaged(directory, name, "not listed in meta.json: not part of this build")
        return
    try:
        actual = (directory / name).stat().st_size if size is None else size
    except FileNotFoundError:
        raise IndexDamaged(directory, name, "missing") from None
    if actual != entry["size"]:
        raise IndexDamaged(directory, name, f"{actual} bytes, meta.json lists {entry['size']}")


def check_sha256(directory: Path, meta: dict[str, Any], name: str, data: bytes | None = None) -> None:
    """The file's full sha256 (of ``data`` when the caller has read it) against meta.json's."""
    entry = listed(meta, name)
    if entry is None:
        check_size(directory, meta, name)
        return
    check_size(directory, meta, name, None if data is None else len(data))
    actual = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(directory / name)
    if actual != entry["sha256"]:
        raise IndexDamaged(directory, name, "its sha256 differs from meta.json's: damaged, or of another build")


def check_block_sums(directory: Path, meta: dict[str, Any], name: str, data: np.ndarray | None = None) -> None:
    """The file's block sums (see :func:`block_sums`) against meta.json's; its full sha256 where none is listed."""
    entry = listed(meta, name)
    if entry is None or entry.get("block_sums") is None:
        check_sha256(directory, meta, name)
        return
    check_size(directory, meta, name, None if data is None else len(data))
    if block_sums(map_file(directory / name) if data is None else data) != entry["block_sums"]:
        raise IndexDamaged(directory, name, "its block sums differ from meta.json's: damaged, or of another build")


def check_scores(scores: np.ndarray, directory: Path, name: str) -> None:
    """Refuse scores no unit-vector index can give (NaN, infinite, beyond ±1): damaged vectors."""
    if scores.size and not (np.isfinite(scores).all() and np.abs(scores).max() <= 1.0 + SCORE_SLACK):
        worst = scores[~np.isfinite(scores)] if not np.isfinite(scores).all() else scores.flat[np.abs(scores).argmax()]
        raise IndexDamaged(directory, name, f"gave the score {np.asarray(worst).flat[0]:.4g}, which unit vectors cannot")


class Background:
    """A check run on another thread while the caller goes on (numpy's sums and hashlib
    release the GIL, so on two cores it costs no wall time); :meth:`join` waits for it and
    raises its error. Call ``join`` before using what it checks."""

    def __init__(self, check: Callable[..., None], *args: Any):
        import threading

        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(check, args), daemon=True)
        self._thread.start()

    def _run(self, check: Callable[..., None], args: tuple) -> None:
        try:
            check(*args)
        except BaseException as err:  # noqa: BLE001 - raised again in the caller's thread by join()
            self._error = err

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error
