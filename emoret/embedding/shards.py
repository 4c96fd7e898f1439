"""A sharded embedding set: shards written apart (in parallel, on Ray), read as one set.

Each shard is an ordinary set (:mod:`emoret.embedding.files`: rows and sha256 in its
meta, so it checks itself), ``NAME.shards/NNNNN-KEY``: KEY digests what the shard was made
of (its items' records, the model, precision, sampling), so a rerun of the same job finds
the shards it may keep and recomputes only those missing or failing their check.

``NAME.meta.json`` is the manifest, written last: what the local path's meta records (model,
fingerprint, precision, sampling), the total ``count``, and ``shards``, the shards in the
items' order with each one's rows and the sha256 of its meta file. A job killed before the
manifest leaves none of its own (an older set at NAME stays whole); a shard swapped or
damaged after it is refused on reading.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import orjson

from emoret.atomic import TEMP_SUFFIX, write_bytes_atomic
from emoret.embedding.files import (
    SHARDS_FORMAT,
    SHARDS_KEY,
    embedding_paths,
    file_digest,
    save_embeddings,
    shards_dir,
)


def shard_path(name: str | os.PathLike, index: int, key: str) -> Path:
    """The NAME (no suffix) of shard ``index`` made of what ``key`` digests."""
    return shards_dir(name) / f"{index:05d}-{key}"


def shard_key(records: Sequence[dict[str, Any]], settings: dict[str, Any]) -> str:
    """A digest of a shard's items (their records: path, size, mtime) and how they are embedded."""
    body = orjson.dumps({"settings": settings, "records": list(records)},
                        option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return hashlib.sha256(body).hexdigest()[:16]


# --- writing -----------------------------------------------------------------------


def write_shard(path: Path, vectors: np.ndarray, records: Sequence[dict[str, Any]],
                meta: dict[str, Any]) -> dict[str, Any]:
    """Save one shard (atomically, self-checking); its manifest entry."""
    save_embeddings(path, vectors, records, meta)
    entry = checked_shard(path)
    if entry is None:  # written just now: only a disk that loses writes gets here
        raise OSError(f"{path}: the shard just written does not check")
    return entry


def checked_shard(path: Path) -> dict[str, Any] | None:
    """The manifest entry of the shard at ``path`` when it is whole (its files match the
    digests its meta records), else None: a shard to compute again."""
    npy, jsonl, meta_path = embedding_paths(path)
    try:
        meta = orjson.loads(meta_path.read_bytes())
        whole = (isinstance(meta, dict) and file_digest(npy) == meta.get("npy_sha256")
                 and file_digest(jsonl) == meta.get("jsonl_sha256"))
    except (OSError, orjson.JSONDecodeError):
        return None
    if not whole:
        return None
    return {"name": path.name, "count": int(meta["count"]), "meta_sha256": file_digest(meta_path),
            "failures": meta.get("failures", []), "moments": bool(meta.get("moments"))}


def write_manifest(name: str | os.PathLike, entries: Sequence[dict[str, Any]], meta: dict[str, Any]) -> Path:
    """Publish the shards ``entries`` (in the items' order) as the set NAME; returns NAME.meta.json.

    The manifest replaces NAME.meta.json in one rename; then the files of what NAME was
    before (a single set's .npy and .jsonl, shards no longer listed) are removed.
    """
    npy, jsonl, meta_path = embedding_paths(name)
    directory = shards_dir(name)
    listed = [{key: entry[key] for key in ("name", "count", "meta_sha256")} for entry in entries]
    body = {**meta, "count": sum(entry["count"] for entry in listed), "format": SHARDS_FORMAT,
            "dir": directory.name, SHARDS_KEY: listed}
    write_bytes_atomic(meta_path, orjson.dumps(body, option=orjson.OPT_INDENT_2))
    npy.unlink(missing_ok=True)
    jsonl.unlink(missing_ok=True)
    remove_unlisted(directory, {entry["name"] for entry in listed})
    return meta_path


def remove_unlisted(directory: Path, keep: set[str]) -> None:
    """Shards of earlier jobs and temp files of killed writers; the caller holds NAME's lock."""
    for entry in os.scandir(directory):
        stem = entry.name
        for suffix in (".npy", ".jsonl", ".meta.json"):
            stem = stem.removesuffix(suffix)
        if entry.name.endswith(TEMP_SUFFIX) or stem not in keep:
            Path(entry.path).unlink(missing_ok=True)


def remove_temps(directory: Path) -> int:
    """Temp files left in ``directory`` by writers killed mid-write (on any node); the
    caller holds NAME's lock, so no writer of this set is running. How many went."""
    removed = 0
    if directory.is_dir():
        for entry in os.scandir(directory):
            if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
    return removed


# --- reading -----------------------------------------------------------------------


