"""Embedding captions and videos with a model, and the ``NAME.npy`` + ``NAME.jsonl`` files.

``NAME.npy`` is float32 ``[N, D]``, L2-normalised; ``NAME.jsonl`` holds one record a
row, in row order; ``NAME.meta.json`` says which model made them (spec and
fingerprint), so an index and a search can check they agree.

``shard=(i, n)`` embeds the i-th of n contiguous blocks of the items, so the
shards' outputs, concatenated in shard order, equal one unsharded run.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import orjson

from emoret.atomic import atomic_path, write_bytes_atomic
from emoret.errors import InputError
from emoret.records import JsonlWriter, iter_records
from emoret.retrieval.encoder import Encoder
from emoret.text.emotions import record_emotion_vector
from emoret.video.decode import DEFAULT_RULE, Sampling, VideoError, extract, find_videos, pick_frames
from emoret.video.frames import load_frames, read_manifest

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
    """Write the three files, each atomically; returns the .npy path."""
    npy, jsonl, meta_path = embedding_paths(name)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) != len(records):
        raise ValueError(f"{len(vectors)} vectors but {len(records)} records")
    with atomic_path(npy) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, vectors)
    with JsonlWriter(jsonl) as writer:
        writer.write_all(records)
    write_bytes_atomic(meta_path, orjson.dumps({"count": len(vectors), **(meta or {})}, option=orjson.OPT_INDENT_2))
    return npy


def load_embeddings(name: str | os.PathLike) -> Embeddings:
    """Read NAME.npy + NAME.jsonl (+ NAME.meta.json when present), checking they agree."""
    npy, jsonl, meta_path = embedding_paths(name)
    try:
        vectors = np.load(npy, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(str(npy), "no such file (make it with 'emoret embed')") from None
    except (ValueError, OSError) as err:
        raise InputError(str(npy), f"not a .npy array ({err})") from None
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise InputError(str(npy), f"expected float [N, D] embeddings, got {vectors.dtype} {list(vectors.shape)}")
    if not jsonl.exists():
        raise InputError(str(jsonl), "no such file (each .npy needs its .jsonl of records)")
    records = list(iter_records(jsonl))
    if len(records) != len(vectors):
        raise InputError(str(jsonl), f"{len(records)} records for {len(vectors)} rows in {npy.name}")
    meta: dict[str, Any] = {}
    if meta_path.exists():
        try:
            meta = orjson.loads(meta_path.read_bytes())
        except orjson.JSONDecodeError:
            raise InputError(str(meta_path), "malformed JSON") from None
    return Embeddings(vectors.astype(np.float32, copy=False), records, meta, str(npy.with_suffix("")))


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
    vectors = np.concatenate([part.vectors for part in parts])
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


def parse_shard(spec: str | None) -> tuple[int, int]:
    """``"I/N"`` (0-based I) → (I, N); ValueError when malformed."""
    if not spec:
        return 0, 1
    try:
        index, count = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ValueError(f"--shard takes I/N, e.g. 0/4, not {spec!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {spec}: need 0 <= I < N")
    return index, count


def shard_bounds(total: int, shard: tuple[int, int]) -> tuple[int, int]:
    """[start, stop) of shard i of n contiguous, near-equal blocks."""
    index, count = shard
    return total * index // count, total * (index + 1) // count


def model_meta(model: Encoder, spec: str | os.PathLike) -> dict[str, Any]:
    """What an embeddings or index file records about the model that made it."""
    path = Path(spec)
    return {
        "model": str(path.resolve()) if path.exists() else str(spec),
        "fingerprint": model.fingerprint,
        "dim": int(model.embed_dim),
    }


def _autocast(model: Encoder):
    """Half precision on a GPU; full precision on CPU."""
    import contextlib

    import torch

    if model.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _finish(features) -> np.ndarray:
    """float32 and unit length again (half precision rounds the norms)."""
    array = features.detach().float().cpu().numpy()
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return (array / np.maximum(norms, 1e-12)).astype(np.float32)


# --- texts -------------------------------------------------------------------------


def caption_of(record: dict[str, Any]) -> str:
    caption = record.get("caption")
    return caption if isinstance(caption, str) else ""


def embed_texts(model: Encoder, texts: Sequence[str], emotions: Sequence[Sequence[float]] | None = None,
                batch_size: int = 64, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """[N, D] text embeddings; ``emotions`` None embeds without the emotion signal."""
    import torch

    out = np.zeros((len(texts), int(model.embed_dim)), dtype=np.float32)
    with torch.inference_mode(), _autocast(model):
        for start in range(0, len(texts), batch_size):
            stop = min(start + batch_size, len(texts))
            batch_emotions = None
            if emotions is not None:
                batch_emotions = torch.as_tensor(np.asarray(emotions[start:stop], dtype=np.float32))
            out[start:stop] = _finish(model.encode_text(list(texts[start:stop]), batch_emotions))
            if on_batch:
                on_batch(stop - start)
    return out


def text_emotions(records: Sequence[dict[str, Any]]) -> list[list[int]]:
    """Each record's 8 NRC emotion counts (computed from the caption when absent)."""
    return [record_emotion_vector(record) for record in records]


# --- videos ------------------------------------------------------------------------


@dataclass
class VideoItem:
    """A video to embed: its record, and how to get its frames (uint8 [T, H, W, 3])."""

    record: dict[str, Any]
    load: Callable[[], np.ndarray]


def items_from_frames(frames_dir: str | os.PathLike) -> tuple[list[VideoItem], list[dict[str, Any]]]:
    """Items of a frame store, and the manifest records that carry an ``error``."""
    items, failed = [], []
    for record in read_manifest(frames_dir):
        if record.get("error"):
            failed.append(record)
            continue
        video_id = str(record["video_id"])
        record = dict(record)
        source = record.get("source")
        if "path" not in record and source and Path(source).exists():
            # The manifest's source is relative to where extract-frames ran; a search runs anywhere.
            record["path"] = str(Path(source).resolve())
        items.append(VideoItem(record, functools.partial(load_frames, frames_dir, video_id)))
    return items, failed


def items_from_files(paths: Iterable[str | os.PathLike], num_frames: int, size: int,
                     rule: str = DEFAULT_RULE) -> list[VideoItem]:
    """Items decoded on the fly from video files and directories, frames chosen by ``rule``."""
    items = []
    for path in find_videos(paths):
        try:
            record = file_record(path)
        except OSError as err:  # a dangling link, or gone since the listing
            record = {"video_id": path.stem, "video": path.name, "path": str(path.absolute())}
            items.append(VideoItem(record, _unreadable(err.strerror or str(err))))
            continue
        items.append(VideoItem(record, _decoder(path, Sampling(num_frames=num_frames, size=size, rule=rule), record)))
    return items


def _unreadable(reason: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        raise VideoError(f"cannot read the file ({reason})")

    return load


def file_record(path: Path) -> dict[str, Any]:
    """``video_id``, ``video``, ``path`` and the file's size and mtime (to spot changes)."""
    stat = path.stat()
    return {
        "video_id": path.stem,
        "video": path.name,
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }


def _decoder(path: Path, sampling: Sampling, record: dict[str, Any]) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        extracted = extract(path, sampling)
        if extracted.duration is not None:
            record["duration"] = round(float(extracted.duration), 3)
        return extracted.frames

    return load


@dataclass
class VideoFailure:
    record: dict[str, Any]
    reason: str


def embed_videos(model: Encoder, items: Sequence[VideoItem], batch_size: int = 8,
                 on_item: Callable[[], None] | None = None,
                 on_failure: Callable[[VideoFailure], None] | None = None,
                 rule: str = DEFAULT_RULE) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Embed the items that can be read; returns (vectors, their records) in item order.

    A video that cannot be read is passed to ``on_failure`` and left out. Frames
    are loaded on a thread while the model works on the previous batch; where an item
    holds more or fewer frames than the model takes, ``rule`` picks them.
    """
    import torch

    vectors: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        for loaded in _prefetched(pool, model, batches, rule):
            good = []
            for item, frames, reason in loaded:
                if reason is not None:
                    if on_failure:
                        on_failure(VideoFailure(item.record, reason))
                    if on_item:
                        on_item()
                else:
                    good.append((item, frames))
            if good:
                with torch.inference_mode(), _autocast(model):
                    batch = torch.stack([frames for _, frames in good]).to(model.device)
                    vectors.append(_finish(model.encode_video(batch)))
                records.extend(item.record for item, _ in good)
                for _ in good:
                    if on_item:
                        on_item()
    dim = int(model.embed_dim)
    return (np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)), records


def _prefetched(
    pool: ThreadPoolExecutor, model: Encoder, batches: Sequence[Sequence[VideoItem]], rule: str
) -> Iterator[list[tuple[VideoItem, Any, str | None]]]:
    """Each batch loaded (:func:`_load_batch`), the next one loading while the caller works."""
    if not batches:
        return
    pending = pool.submit(_load_batch, model, batches[0], rule)
    for following in batches[1:]:
        loaded = pending.result()
        pending = pool.submit(_load_batch, model, following, rule)
        yield loaded
    yield pending.result()


def _load_batch(model: Encoder, batch: Sequence[VideoItem], rule: str) -> list[tuple[VideoItem, Any, str | None]]:
    out: list[tuple[VideoItem, Any, str | None]] = []
    for item in batch:
        try:
            frames = pick_frames(item.load(), int(model.num_frames), rule)
            out.append((item, model.preprocess_frames(frames), None))
        except (VideoError, InputError) as err:
            out.append((item, None, str(err)))
    return out

