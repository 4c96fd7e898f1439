"""The embedding-set format: ``NAME.npy`` + ``NAME.jsonl`` + ``NAME.meta.json``.

``NAME.npy`` is float32 ``[N, D]``, L2-normalised; ``NAME.jsonl`` holds one record a
row, in row order; ``NAME.meta.json`` says which model made them (spec and
fingerprint), so an index and a search can check they agree, and records the rows and
the sha256 of the other two files so a set checks itself.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import orjson

from emoret.atomic import atomic_paths, save_npy
from emoret.embedding.encoder import Encoder
from emoret.errors import InputError, naming
from emoret.records import dumps, iter_records

META_SUFFIX = ".meta.json"


# --- the files -----------------------------------------------------------------------


def embedding_paths(name: str | os.PathLike) -> tuple[Path, Path, Path]:
    """``(NAME.npy, NAME.jsonl, NAME.meta.json)``; NAME may be given with either suffix."""
    text = str(name)
    for suffix in (".npy", ".jsonl", META_SUFFIX):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    return Path(text + ".npy"), Path(text + ".jsonl"), Path(text + META_SUFFIX)


@dataclass
class Embeddings:
    vectors: np.ndarray
    records: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)
    name: str = ""


def save_embeddings(name: str | os.PathLike, vectors: np.ndarray, records: Sequence[dict[str, Any]],
                    meta: dict[str, Any] | None = None) -> Path:
    """Write the set; returns the .npy path.

    The three files cannot be swapped in one step, so the set checks itself:
    NAME.meta.json, written last, records the row count and the sha256 of the
    other two. All three are written in full before any is swapped in (a full disk leaves
    the old set); the old meta file goes first, so a run killed between the swaps
    leaves a set that :func:`load_embeddings` refuses, never a mixed one it accepts.
    """
    npy, jsonl, meta_path = embedding_paths(name)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) != len(records):
        raise ValueError(f"{len(vectors)} vectors but {len(records)} records")
    files = [npy, jsonl, meta_path]
    with atomic_paths(files, before_swap=lambda: meta_path.unlink(missing_ok=True)) as (npy_tmp, jsonl_tmp, meta_tmp):
        with naming(npy), open(npy_tmp, "wb") as handle:
            save_npy(handle, vectors)
            handle.flush()
            os.fsync(handle.fileno())
        with naming(jsonl), open(jsonl_tmp, "wb") as handle:
            for record in records:
                handle.write(dumps(record))
            handle.flush()
            os.fsync(handle.fileno())
        full = {**(meta or {}), "count": len(vectors), "npy_sha256": file_digest(npy_tmp),
                "jsonl_sha256": file_digest(jsonl_tmp)}
        with naming(meta_path), open(meta_tmp, "wb") as handle:
            handle.write(orjson.dumps(full, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
    return npy


def file_digest(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


MADE_BY = {"texts": "'emoret embed --texts'", "videos": "'emoret embed'"}


def not_a_set(name: str | os.PathLike, kind: str | None = None) -> InputError:
    """The one-line error for a NAME that is no embedding set; ``kind``: "texts" or "videos".

    A file or directory given where a set's NAME belongs (captions, videos) is named as
    what it is, with what the option wants, rather than as a missing NAME.npy.
    """
    npy, _, _ = embedding_paths(name)
    wants = f"--{kind} wants" if kind else "give"
    wanted = (f"{wants} the NAME of a set made by {MADE_BY.get(kind or '', MADE_BY['videos'])} "
              "(NAME.npy + NAME.jsonl + NAME.meta.json)")
    path = Path(name)
    bare = path == npy.with_suffix("")  # NAME itself, not NAME.jsonl of a set short of its .npy
    if bare and path.is_dir():
        return InputError(str(name), f"a directory, not an embedding set: {wanted}")
    if bare and path.exists():
        return InputError(str(name), f"a file, not an embedding set: {wanted}")
    return InputError(str(npy), f"no such file: {wanted}")


def names_a_set(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` names an embedding set (NAME.npy, NAME.jsonl, or NAME with NAME.npy
    beside it, or a sharded set's NAME) rather than videos; a directory is videos, unless it ends without ``/`` and a
    NAME.npy lies beside it too (InputError: the caller must say which it means)."""
    text = os.fspath(source)
    if text.endswith((".npy", ".jsonl")):
        return True
    npy, _, _ = embedding_paths(text)
    if Path(text).is_dir():
        if npy.is_file() and not text.endswith("/"):
            raise InputError(text, f"both a directory and {npy.name} exist; write {npy} for the embeddings or "
                                   f"{text}/ for the videos")
        return False
    return npy.is_file() or is_sharded(text)


def load_embeddings(name: str | os.PathLike, kind: str | None = None) -> Embeddings:
    """Read a set NAME.npy + NAME.jsonl + NAME.meta.json, checking the three belong together
    (or a sharded set, NAME.meta.json listing its shards: :mod:`emoret.embedding.shards`).

    ``kind`` ("texts" or "videos") only words the error for a NAME that is no set.
    A set whose meta file predates the digests (an older emoret) is read with the
    row count as its only check.
    """
    manifest = read_manifest(name)
    if manifest is not None:  # a sharded set (written on Ray), read as one
        return load_sharded(name, manifest)
    return _load_single(name, kind)


def _load_single(name: str | os.PathLike, kind: str | None) -> Embeddings:
    npy, jsonl, meta_path = embedding_paths(name)
    if not npy.exists():
        raise not_a_set(name, kind)
    if not jsonl.exists():
        raise InputError(str(jsonl), "no such file (each .npy needs its .jsonl of records)")
    meta = _read_meta(meta_path)
    for path, key in ((npy, "npy_sha256"), (jsonl, "jsonl_sha256")):
        if key in meta and file_digest(path) != meta[key]:
            raise InputError(str(path), f"does not match {meta_path.name}: the set mixes files of two runs "
                                        "(run 'emoret embed' again)")
    vectors = _read_vectors(npy)
    records = list(iter_records(jsonl))
    if len(records) != len(vectors):
        raise InputError(str(jsonl), f"{len(records)} records for {len(vectors)} rows in {npy.name}")
    if "count" in meta and meta["count"] != len(vectors):
        raise InputError(str(meta_path), f"says {meta['count']} rows, {npy.name} has {len(vectors)}")
    return Embeddings(vectors.astype(np.float32, copy=False), records, meta, str(npy.with_suffix("")))


def _read_meta(meta_path: Path) -> dict[str, Any]:
    if not meta_path.exists():
        raise InputError(str(meta_path), "no such file: an incomplete set (run 'emoret embed' again)")
    try:
        meta = orjson.loads(meta_path.read_bytes())
    except orjson.JSONDecodeError:
        raise InputError(str(meta_path), "malformed JSON") from None
    if not isinstance(meta, dict):
        raise InputError(str(meta_path), "expected a JSON object")
    return meta


def _read_vectors(npy: Path) -> np.ndarray:
    """The float [N, D] array of ``npy``, every row finite."""
    try:
        vectors = np.load(npy, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise InputError(str(npy), f"not a .npy array ({err})") from None
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise InputError(str(npy), f"expected float [N, D] embeddings, got {vectors.dtype} {list(vectors.shape)}")
    check_finite(vectors, str(npy))
    return vectors


def check_finite(vectors: np.ndarray, source: str) -> None:
    """NaN or infinity in a vector is bad input: it would rank anywhere."""
    finite = np.isfinite(vectors).all(axis=tuple(range(1, vectors.ndim)))
    if not finite.all():
        row = int(np.argmin(finite))
        raise InputError(source, f"row {row} contains NaN or infinity ({int((~finite).sum())} such rows)")


# --- options -----------------------------------------------------------------------


def combine_embeddings(parts: Sequence[Embeddings]) -> Embeddings:
    """Shards of one set, joined in order; they must share the dimension and the model.

    The result's meta keeps what the first names of the model (``model``, ``fingerprint``).
    """
    first = parts[0]
    for part in parts[1:]:
        if part.vectors.shape[1] != first.vectors.shape[1]:
            raise InputError(
                part.name, f"dimension {part.vectors.shape[1]} differs from {first.name}'s {first.vectors.shape[1]}"
            )
        if part.meta.get("fingerprint") != first.meta.get("fingerprint"):
            raise InputError(part.name, f"made by a different model than {first.name}")
    meta: dict[str, Any] = {key: first.meta[key] for key in ("model", "fingerprint") if key in first.meta}
    # One set (a sharded one too) is used as it is: concatenating would copy every vector.
    vectors = first.vectors if len(parts) == 1 else np.concatenate([part.vectors for part in parts])
    records = [record for part in parts for record in part.records]
    return Embeddings(vectors, records, meta, first.name)


def check_made_by(embeddings: Embeddings, model: Encoder, model_spec: str) -> None:
    """Refuse embeddings that ``model`` did not make (other fingerprint or dimension)."""
    fingerprint = embeddings.meta.get("fingerprint")
    if fingerprint and fingerprint != model.fingerprint:
        raise InputError(embeddings.name, f"these embeddings were made by another model than {model_spec}")
    dim = embeddings.vectors.shape[1]
    if model.embed_dim != dim:
        raise InputError(embeddings.name, f"dimension {dim} but {model_spec} embeds in {model.embed_dim}")


def model_meta(model: Encoder, spec: str | os.PathLike) -> dict[str, Any]:
    """What an embeddings or index file records about the model that made it."""
    path = Path(spec)
    return {
        "model": str(path.resolve()) if path.exists() else str(spec),
        "fingerprint": model.fingerprint,
        "dim": int(model.embed_dim),
    }


# --- sharded sets (written on Ray: emoret.embedding.shards), read as one ---------------


SHARDS_FORMAT = "emoret-sharded-set"


SHARDS_KEY = "shards"


_LISTING_KEYS = ("format", "dir", SHARDS_KEY)  # the manifest's own keys, not the set's meta



def shards_dir(name: str | os.PathLike) -> Path:
    """``NAME.shards``: where the shards of the set NAME live."""
    npy, _, _ = embedding_paths(name)
    return npy.with_name(npy.name[: -len(".npy")] + ".shards")



def read_manifest(name: str | os.PathLike) -> dict[str, Any] | None:
    """NAME.meta.json when it is a sharded set's manifest, else None (a single set, or none)."""
    _, _, meta_path = embedding_paths(name)
    try:
        meta = orjson.loads(meta_path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == SHARDS_FORMAT else None



def is_sharded(name: str | os.PathLike) -> bool:
    return read_manifest(name) is not None



def load_sharded(name: str | os.PathLike, manifest: dict[str, Any]) -> Embeddings:
    """The shards of ``manifest`` read as one set: the rows go straight into one array of
    the manifest's ``count`` rows (a shard at a time), never two copies of the vectors."""
    _, _, meta_path = embedding_paths(name)
    directory = meta_path.parent / str(manifest.get("dir", ""))
    total = int(manifest.get("count", -1))
    vectors: np.ndarray | None = None
    records: list[dict[str, Any]] = []
    for entry in manifest[SHARDS_KEY]:
        part = _load_shard(directory / str(entry["name"]), entry, meta_path)
        if vectors is None:
            vectors = np.empty((max(total, 0), part.vectors.shape[1]), dtype=np.float32)
        if part.vectors.shape[1] != vectors.shape[1] or len(records) + len(part.records) > total:
            raise InputError(part.name, f"does not fit the set {meta_path.name} lists it in (rows or dimension)")
        vectors[len(records) : len(records) + len(part.records)] = part.vectors
        records.extend(part.records)
        del part
    if vectors is None or len(records) != total:
        raise InputError(str(meta_path), f"says {total} rows, its shards hold {len(records)}")
    meta = {key: value for key, value in manifest.items() if key not in _LISTING_KEYS}
    return Embeddings(vectors, records, meta, str(meta_path)[: -len(".meta.json")])



def _load_shard(path: Path, entry: dict[str, Any], manifest_path: Path) -> Embeddings:
    _, _, shard_meta = embedding_paths(path)
    if not shard_meta.exists():
        raise InputError(str(shard_meta), f"no such file: a shard {manifest_path.name} lists (run 'emoret embed' again)")
    if file_digest(shard_meta) != entry.get("meta_sha256"):
        raise InputError(str(shard_meta), f"does not match {manifest_path.name}: a shard of another run "
                                          "(run 'emoret embed' again)")
    return _load_single(path, None)
