"""Embedding captions and videos with a model, and the ``NAME.npy`` + ``NAME.jsonl`` files.

``NAME.npy`` is float32 ``[N, D]``, L2-normalised; ``NAME.jsonl`` holds one record a
row, in row order; ``NAME.meta.json`` says which model made them (spec and
fingerprint), so an index and a search can check they agree.

``shard=(i, n)`` embeds the i-th of n contiguous blocks of the items, so the
shards' outputs, concatenated in shard order, equal one unsharded run.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import orjson

from emoret.atomic import atomic_paths, save_npy
from emoret.embedding.encoder import Encoder
from emoret.errors import InputError, ModelError
from emoret.records import dumps, iter_records
from emoret.text.emotions import record_emotion_vector
from emoret.video.decode import DEFAULT_RULE, Sampling, VideoError, extract, find_videos, pick_frames
from emoret.video.frames import check_frames, load_frames, read_manifest

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
        with _named_errors(npy), open(npy_tmp, "wb") as handle:
            save_npy(handle, vectors)
            handle.flush()
            os.fsync(handle.fileno())
        with _named_errors(jsonl), open(jsonl_tmp, "wb") as handle:
            for record in records:
                handle.write(dumps(record))
            handle.flush()
            os.fsync(handle.fileno())
        full = {**(meta or {}), "count": len(vectors), "npy_sha256": file_digest(npy_tmp),
                "jsonl_sha256": file_digest(jsonl_tmp)}
        with _named_errors(meta_path), open(meta_tmp, "wb") as handle:
            handle.write(orjson.dumps(full, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
    return npy


@contextlib.contextmanager
def _named_errors(path: Path):
    """An OSError that names no file (a full disk mid-write) names the output."""
    try:
        yield
    except OSError as err:
        if err.filename is None:
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise


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


def load_embeddings(name: str | os.PathLike, kind: str | None = None) -> Embeddings:
    """Read a set NAME.npy + NAME.jsonl + NAME.meta.json, checking the three belong together.

    ``kind`` ("texts" or "videos") only words the error for a NAME that is no set.
    A set whose meta file predates the digests (an older emoret) is read with the
    row count as its only check.
    """
    npy, jsonl, meta_path = embedding_paths(name)
    if not npy.exists():
        raise not_a_set(name, kind)
    if not jsonl.exists():
        raise InputError(str(jsonl), "no such file (each .npy needs its .jsonl of records)")
    if not meta_path.exists():
        raise InputError(str(meta_path), "no such file: an incomplete set (run 'emoret embed' again)")
    try:
        meta = orjson.loads(meta_path.read_bytes())
    except orjson.JSONDecodeError:
        raise InputError(str(meta_path), "malformed JSON") from None
    if not isinstance(meta, dict):
        raise InputError(str(meta_path), "expected a JSON object")
    for path, key in ((npy, "npy_sha256"), (jsonl, "jsonl_sha256")):
        if key in meta and file_digest(path) != meta[key]:
            raise InputError(str(path), f"does not match {meta_path.name}: the set mixes files of two runs "
                                        "(run 'emoret embed' again)")
    try:
        vectors = np.load(npy, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise InputError(str(npy), f"not a .npy array ({err})") from None
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise InputError(str(npy), f"expected float [N, D] embeddings, got {vectors.dtype} {list(vectors.shape)}")
    check_finite(vectors, str(npy))
    records = list(iter_records(jsonl))
    if len(records) != len(vectors):
        raise InputError(str(jsonl), f"{len(records)} records for {len(vectors)} rows in {npy.name}")
    if "count" in meta and meta["count"] != len(vectors):
        raise InputError(str(meta_path), f"says {meta['count']} rows, {npy.name} has {len(vectors)}")
    return Embeddings(vectors.astype(np.float32, copy=False), records, meta, str(npy.with_suffix("")))


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


def _autocast(model: Encoder, precision: str | None = None):
    """``precision`` (fp32, bf16, fp16: see precision.py); None: half on a GPU, fp32 on a CPU."""
    from emoret.embedding.precision import autocast

    device_type = model.device.type
    if precision is None:
        precision = "fp16" if device_type == "cuda" else "fp32"
    return autocast(precision, device_type)


def _finish(features, model: Encoder) -> np.ndarray:
    """float32 and unit length again (half precision rounds the norms); NaN or infinity
    out of the model (damaged weights) stops the run, never reaches a file."""
    array = features.detach().float().cpu().numpy()
    if not np.isfinite(array).all():
        raise ModelError(str(getattr(model, "source", "the model")),
                         "the model gave NaN or infinity (damaged weights?); nothing written")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return (array / np.maximum(norms, 1e-12)).astype(np.float32)


# --- texts -------------------------------------------------------------------------


def caption_of(record: dict[str, Any]) -> str:
    caption = record.get("caption")
    return caption if isinstance(caption, str) else ""


def embed_texts(model: Encoder, texts: Sequence[str], emotions: Sequence[Sequence[float]] | None = None,
                batch_size: int = 64, on_batch: Callable[[int], None] | None = None,
                precision: str | None = None) -> np.ndarray:
    """[N, D] text embeddings; ``emotions`` None embeds without the emotion signal."""
    import torch

    out = np.zeros((len(texts), int(model.embed_dim)), dtype=np.float32)
    with torch.inference_mode(), _autocast(model, precision):
        for start in range(0, len(texts), batch_size):
            stop = min(start + batch_size, len(texts))
            batch_emotions = None
            if emotions is not None:
                batch_emotions = torch.as_tensor(np.asarray(emotions[start:stop], dtype=np.float32))
            out[start:stop] = _finish(model.encode_text(list(texts[start:stop]), batch_emotions), model)
            if on_batch:
                on_batch(stop - start)
    return out


def text_emotions(records: Sequence[dict[str, Any]]) -> list[list[int]]:
    """Each record's 8 NRC emotion counts (computed from the caption when absent)."""
    return [record_emotion_vector(record) for record in records]


# --- videos ------------------------------------------------------------------------


Rows = list[tuple[dict[str, Any], np.ndarray]]


@dataclass
class VideoItem:
    """A video, or one moment of one, to embed: its record, and how to get its rows.

    ``load`` returns one ``(record, frames)`` pair a vector (frames uint8 [T, H, W, 3]):
    one for a video, or one a moment when a file is decoded in moments.
    """

    record: dict[str, Any]
    load: Callable[[], Rows]


def items_from_frames(frames_dir: str | os.PathLike) -> tuple[list[VideoItem], list[dict[str, Any]]]:
    """Items of a frame store (one a moment where it holds moments), and the records with an ``error``."""
    from emoret.video.moments import moment_record

    items, failed = [], []
    for record in read_manifest(frames_dir):
        if record.get("error"):
            failed.append(record)
            continue
        video_id = str(record["video_id"])
        check_frames(frames_dir, video_id, record)  # all refused before any is embedded
        stored = record
        record = dict(record)
        source = record.get("source")
        if "path" not in record and source and Path(source).exists():
            # The manifest's source is relative to where extract-frames ran; a search runs anywhere.
            record["path"] = str(Path(source).resolve())
        moments = record.pop("moments", None)
        if moments is None:
            items.append(VideoItem(record, functools.partial(_stored_rows, frames_dir, video_id, record, None, stored)))
            continue
        for moment in moments:
            whole = moment_record(record, moment["start"], moment["end"])
            rows = (int(moment["rows"][0]), int(moment["rows"][1]))
            items.append(VideoItem(whole, functools.partial(_stored_rows, frames_dir, video_id, whole, rows, stored)))
    return items, failed


def _stored_rows(frames_dir: str | os.PathLike, video_id: str, record: dict[str, Any],
                 rows: tuple[int, int] | None, stored: dict[str, Any]) -> Rows:
    """The one (record, frames) pair of a stored video, or of one moment's rows of it,
    checked against the manifest record ``stored`` as it is read."""
    return [(record, load_frames(frames_dir, video_id, rows, record=stored))]


def items_from_files(paths: Iterable[str | os.PathLike], num_frames: int, size: int, rule: str = DEFAULT_RULE,
                     segment: float | None = None, overlap: float = 0.0, scenes: bool = False) -> list[VideoItem]:
    """Items decoded on the fly from video files and directories, frames chosen by ``rule``
    (in moments with ``segment`` or ``scenes``: ``rule`` within each moment)."""

    sampling = Sampling(num_frames=num_frames, size=size, rule=rule, segment=segment, overlap=overlap, scenes=scenes)
    items = []
    for path in find_videos(paths):
        try:
            record = file_record(path)
        except OSError as err:  # a dangling link, or gone since the listing
            record = {"video_id": path.stem, "video": path.name, "path": str(path.absolute())}
            items.append(VideoItem(record, functools.partial(_unreadable, err.strerror or str(err))))
            continue
        items.append(VideoItem(record, functools.partial(_decode_file, path, sampling, record)))
    return items


# Loads are partials of module-level functions, so an item can be sent to a decode worker.
def _unreadable(reason: str) -> Rows:
    raise VideoError(f"cannot read the file ({reason})")


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


def _decode_file(path: Path, sampling: Sampling, record: dict[str, Any]) -> Rows:
    from emoret.video.moments import moment_record

    extracted = extract(path, sampling)
    if extracted.duration is not None:
        record["duration"] = round(float(extracted.duration), 3)
    if extracted.moments is None:
        return [(record, extracted.frames)]
    return [(moment_record(record, a, b), extracted.frames[r0:r1]) for a, b, r0, r1 in extracted.moments]


@dataclass
class VideoFailure:
    record: dict[str, Any]
    reason: str


def embed_videos(model: Encoder, items: Sequence[VideoItem], batch_size: int = 8,
                 on_item: Callable[[], None] | None = None,
                 on_failure: Callable[[VideoFailure], None] | None = None,
                 rule: str = DEFAULT_RULE,
                 precision: str | None = None, decode_workers: int | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Embed the items that can be read; returns (vectors, their records) in item order.

    A video that cannot be read is passed to ``on_failure`` and left out. Frames are
    loaded ahead of the model: on a thread (``decode_workers`` 0), else in that many
    processes (None: :func:`default_decode_workers` for the model's device); where an item holds more or fewer frames than the model takes, ``rule``
    picks them.
    """
    vectors, records, _ = embed_items(model, items, batch_size, on_item, on_failure, rule, precision, decode_workers)
    return vectors, records


def embed_items(model: Any, items: Sequence[VideoItem], batch_size: int = 8,
                on_item: Callable[[], None] | None = None,
                on_failure: Callable[[VideoFailure], None] | None = None,
                rule: str = DEFAULT_RULE,
                precision: str | None = None, decode_workers: int | None = None) -> tuple[np.ndarray, list[dict[str, Any]], list[int]]:
    """Like :func:`embed_videos`, and for each row the position of the item it came from."""
    import torch

    if decode_workers is None:
        decode_workers = default_decode_workers(model.device.type)
    vectors: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    owners: list[int] = []
    batches = [range(i, min(i + batch_size, len(items))) for i in range(0, len(items), batch_size)]
    if batches:
        for loaded in _loaded_batches(model, items, batches, rule, decode_workers):
            good: list[tuple[int, dict[str, Any], Any]] = []
            for position, rows, reason in loaded:
                if reason is not None:
                    if on_failure:
                        on_failure(VideoFailure(items[position].record, reason))
                else:
                    good += [(position, record, frames) for record, frames in rows]
            # An item in moments may bring many rows: encode them batch_size at a time.
            for first in range(0, len(good), batch_size):
                chunk = good[first : first + batch_size]
                with torch.inference_mode(), _autocast(model, precision):
                    batch = torch.stack([frames for _, _, frames in chunk]).to(model.device)
                    vectors.append(_finish(model.encode_video(batch), model))
                records.extend(record for _, record, _ in chunk)
                owners.extend(position for position, _, _ in chunk)
            if on_item:
                for _ in loaded:
                    on_item()
    dim = int(model.embed_dim)
    return (np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)), records, owners


# Most decode processes started by default: past this the model, not decoding, is the limit.
MAX_DECODE_WORKERS = 8


def default_decode_workers(device_type: str) -> int:
    """Decode processes when embedding video files: on a GPU the model outruns a decoding
    thread, so spare cores decode; on a CPU the model already uses every core, and one
    thread decoding a batch ahead keeps it fed (bench/embed.py measures both)."""
    from emoret.devices import available_cpus

    if device_type == "cpu":
        return 0
    return max(0, min(MAX_DECODE_WORKERS, available_cpus() - 1))


Loaded = list[tuple[int, list, "str | None"]]  # (item position, its rows, why it failed)


def _loaded_batches(model: Any, items: Sequence[VideoItem], batches: list[range], rule: str,
                    decode_workers: int) -> Iterator[Loaded]:
    """Each batch loaded and preprocessed, in order, while the model works on earlier ones.

    Workers send raw uint8 frames back; preprocessing (torch) stays in this process, so
    forked workers never touch torch's threads.
    """
    if decode_workers <= 0:
        with ThreadPoolExecutor(max_workers=1) as thread:
            jobs = (functools.partial(_load_batch, model, items, positions, rule) for positions in batches)
            yield from _in_order(lambda job: thread.submit(job).result, jobs, ahead=1)
        return
    import multiprocessing

    import av  # noqa: F401  (once, before the fork, not once a worker)

    from emoret.workers import plain_worker, stop_pool

    context = multiprocessing.get_context("fork")
    pool = context.Pool(decode_workers, initializer=plain_worker, initargs=(os.getpid(),))
    try:
        jobs = (functools.partial(_decode_batch, [items[p] for p in positions], positions) for positions in batches)
        # Twice the workers in flight: none idles, and decoded frames never pile up in memory.
        for raw in _in_order(lambda job: pool.apply_async(job).get, jobs, ahead=2 * decode_workers):
            yield _prepared(model, raw, rule)
        pool.close()  # done: the workers leave at the end of the queue, no signal needed
        pool.join()
    finally:
        stop_pool(pool)


def _in_order(start: Callable[[Callable[[], Loaded]], Callable[[], Loaded]],
              jobs: Iterator[Callable[[], Loaded]], ahead: int) -> Iterator[Loaded]:
    """Results of ``jobs`` in order, keeping ``ahead`` of them started (``start`` returns a waiter)."""
    waiting: collections.deque[Callable[[], Loaded]] = collections.deque()
    for job in jobs:
        waiting.append(start(job))
        if len(waiting) > ahead:
            yield waiting.popleft()()
    while waiting:
        yield waiting.popleft()()


def _prepared(model: Any, raw: Loaded, rule: str) -> Loaded:
    """A decoded batch with each row's frames picked by ``rule`` and preprocessed for ``model``."""
    return [(position, [(record, model.preprocess_frames(pick_frames(frames, int(model.num_frames), rule)))
                        for record, frames in rows], reason)
            for position, rows, reason in raw]


def _load_batch(model: Any, items: Sequence[VideoItem], positions: range, rule: str) -> Loaded:
    return _prepared(model, _decode_batch([items[p] for p in positions], positions), rule)


def _decode_batch(items: Sequence[VideoItem], positions: range) -> Loaded:
    """Each item's raw rows, or why it cannot be read (run in a decode worker, or on the thread)."""
    out: Loaded = []
    for position, item in zip(positions, items, strict=True):
        try:
            out.append((position, item.load(), None))
        except (VideoError, InputError) as err:
            out.append((position, [], str(err)))
    return out
