"""Running a model over captions and video items: batches, decoding ahead of the model,
the precision, and vectors in item order (the set format is :mod:`emoret.embedding.files`).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from emoret.embedding.encoder import Encoder
from emoret.embedding.sources import VideoFailure, VideoItem
from emoret.errors import InputError, ModelError
from emoret.text.emotions import record_emotion_vector
from emoret.video.container import VideoError
from emoret.video.sampling import DEFAULT_RULE, pick_frames

if TYPE_CHECKING:  # torch is heavy; only the annotations name it
    import torch


def _autocast(model: Encoder, precision: str | None = None) -> contextlib.AbstractContextManager[object]:
    """``precision`` (fp32, bf16, fp16: see precision.py); None: half on a GPU, fp32 on a CPU."""
    from emoret.embedding.precision import autocast

    device_type = model.device.type
    if precision is None:
        precision = "fp16" if device_type == "cuda" else "fp32"
    return autocast(precision, device_type)


def _int8_towers(model: Any, precision: str | None) -> Any:
    """``model`` itself, or for int8 its quantized towers (emoret/embedding/int8.py)."""
    if precision != "int8":
        return model
    from emoret.embedding.int8 import int8_encoder

    return int8_encoder(model)


def _finish(features: torch.Tensor, model: Encoder) -> np.ndarray:
    """float32 and unit length again (half precision rounds the norms); NaN or infinity
    out of the model (damaged weights) stops the run, never reaches a file."""
    array = features.detach().float().cpu().numpy()
    if not np.isfinite(array).all():
        raise ModelError(model.source,
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

    model = _int8_towers(model, precision)
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


def embed_items(model: Encoder, items: Sequence[VideoItem], batch_size: int = 8,
                on_item: Callable[[], None] | None = None,
                on_failure: Callable[[VideoFailure], None] | None = None,
                rule: str = DEFAULT_RULE,
                precision: str | None = None, decode_workers: int | None = None) -> tuple[np.ndarray, list[dict[str, Any]], list[int]]:
    """Like :func:`embed_videos`, and for each row the position of the item it came from."""
    model = _int8_towers(model, precision)
    if decode_workers is None:
        decode_workers = default_decode_workers(model.device.type)
    vectors: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    owners: list[int] = []

    def failed(position: int, reason: str) -> None:
        if on_failure:
            on_failure(VideoFailure(items[position].record, reason))

    batches = [range(i, min(i + batch_size, len(items))) for i in range(0, len(items), batch_size)]
    if batches:
        for loaded in _loaded_batches(model, items, batches, rule, decode_workers):
            encode_loaded(model, loaded, batch_size, precision, (vectors, records, owners), failed)
            if on_item:
                for _ in loaded:
                    on_item()
    dim = int(model.embed_dim)
    return (np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)), records, owners


Encoded = tuple[list[np.ndarray], list[dict[str, Any]], list[int]]  # vector blocks, records, owners


def encode_loaded(model: Any, loaded: Loaded, batch_size: int, precision: str | None, into: Encoded,
                  on_failure: Callable[[int, str], None]) -> None:
    """One loaded batch encoded onto ``into`` (the local path and a Ray actor both come here);
    an item that could not be read goes to ``on_failure(position, reason)``."""
    import torch

    vectors, records, owners = into
    good: list[tuple[int, dict[str, Any], Any]] = []
    for position, rows, reason in loaded:
        if reason is not None:
            on_failure(position, reason)
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


def _loaded_batches(model: Encoder, items: Sequence[VideoItem], batches: list[range], rule: str,
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
        jobs = (functools.partial(decode_batch, [items[p] for p in positions], positions) for positions in batches)
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


def _prepared(model: Encoder, raw: Loaded, rule: str) -> Loaded:
    """A decoded batch with each row's frames picked by ``rule`` and preprocessed for ``model``."""
    return preprocessed(model, picked(raw, int(model.num_frames), rule))


def picked(raw: Loaded, num_frames: int, rule: str) -> Loaded:
    """A decoded batch with each row's ``num_frames`` frames picked by ``rule`` (no torch: a decode worker may run it)."""
    return [(position, [(record, pick_frames(frames, num_frames, rule)) for record, frames in rows], reason)
            for position, rows, reason in raw]


def preprocessed(model: Encoder, raw: Loaded) -> Loaded:
    """A batch of picked frames preprocessed for ``model`` (where the model is)."""
    return [(position, [(record, model.preprocess_frames(frames)) for record, frames in rows], reason)
            for position, rows, reason in raw]


def _load_batch(model: Encoder, items: Sequence[VideoItem], positions: range, rule: str) -> Loaded:
    return _prepared(model, decode_batch([items[p] for p in positions], positions), rule)


def decode_batch(items: Sequence[VideoItem], positions: Sequence[int]) -> Loaded:
    """Each item's raw rows, or why it cannot be read (run in a decode worker, or on the thread)."""
    out: Loaded = []
    for position, item in zip(positions, items, strict=True):
        try:
            out.append((position, item.load(), None))
        except (VideoError, InputError) as err:
            out.append((position, [], str(err)))
    return out
