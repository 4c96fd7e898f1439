"""The two stages of a Ray job, each the local path's own functions run elsewhere.

:func:`decode_shard` (a Ray task on a CPU): a shard's items loaded (decoded, frames
sampled: :func:`emoret.embedding.runner.decode_batch`, the local path's), faces read
where asked, ``num_frames`` picked by the rule (:func:`~emoret.embedding.runner.picked`).
:class:`ShardEmbedder` (an actor holding the model): the frames preprocessed and encoded
(:func:`~emoret.embedding.runner.encode_loaded`), the shard written where the driver said.
:class:`SceneFeeler` (an actor): the same encoding, and the scene's emotions read from it.

Rows between the stages carry one pickled payload, so Ray Data never has to know the
shapes of frames (moments make them ragged).
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emoret.embedding import runner

Row = dict[str, Any]


def _packed(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _unpacked(data: bytes) -> Any:
    return pickle.loads(data)  # rows this job's own tasks wrote


def shard_row(shard: int, start: int, items: list[Any], path: str = "") -> Row:
    """The input row of one shard: its index, first item's position, items, and output path."""
    return {"shard": shard, "start": start, "items": _packed(items), "path": path}


@dataclass(frozen=True)
class Decoding:
    """How a decode task samples: ``num_frames`` picked by ``rule`` (None: as loaded), and
    faces read from every loaded frame (``faces``; ``face_model`` a local ONNX file or None);
    ``keep_frames`` False sends back no frames (no model reads them: faces only);
    ``item_bytes``: about what one item's frames hold (Ray reserves memory by it)."""

    num_frames: int | None
    rule: str
    faces: bool = False
    face_model: str | None = None
    keep_frames: bool = True
    item_bytes: int = 0


def decode_shard(row: Row, decoding: Decoding) -> Row:
    """A shard's items loaded: the readable ones' rows, each unreadable one's record and reason."""
    items = _unpacked(row["items"])
    loaded = runner.decode_batch(items, range(row["start"], row["start"] + len(items)))
    failures = [{"record": items[position - row["start"]].record, "reason": reason}
                for position, _, reason in loaded if reason is not None]
    faces = None
    if decoding.faces:
        reader = _face_reader(decoding.face_model)
        faces = [[reader(frames) for _, frames in rows] for _, rows, _ in loaded]
    if not decoding.keep_frames:
        loaded = [(position, [(record, None) for record, _ in rows], reason) for position, rows, reason in loaded]
    elif decoding.num_frames is not None:
        loaded = runner.picked(loaded, decoding.num_frames, decoding.rule)
    return {"shard": row["shard"], "path": row["path"], "payload": _packed((loaded, failures, faces))}


@functools.lru_cache(maxsize=2)
def _face_reader(face_model: str | None) -> Any:
    """One face reader a worker process (opening the ONNX model is costly; a task is not)."""
    from emoret.perception.faces import face_reader

    return face_reader(face_model)


@dataclass(frozen=True)
class ModelJob:
    """What every actor loads and how it encodes: the model (``spec``, checked against the
    driver's ``fingerprint``), device, precision, items a batch and torch threads."""

    spec: str
    fingerprint: str
    device: str
    precision: str
    batch_size: int
    threads: int = 1
    meta: dict[str, Any] = field(default_factory=dict)


class _ModelActor:
    def __init__(self, job: ModelJob) -> None:
        import torch

        from emoret.errors import ModelError
        from emoret.model.factory import ModelOptions, create_model

        torch.set_num_threads(job.threads)
        self.job = job
        self.model = create_model(job.spec, ModelOptions(device=job.device))
        if self.model.fingerprint != job.fingerprint:
            raise ModelError(job.spec, "this node's copy differs from the driver's (another fingerprint)")

    def encoded(self, loaded: runner.Loaded) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """The readable rows encoded, ``batch_size`` items a batch as the local path groups them."""
        size = self.job.batch_size
        into: runner.Encoded = ([], [], [])
        for first in range(0, len(loaded), size):
            batch = runner.preprocessed(self.model, loaded[first : first + size])
            runner.encode_loaded(self.model, batch, size, self.job.precision, into, lambda _p, _r: None)
        vectors, records, _ = into
        dim = int(self.model.embed_dim)
        return (np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)), records


class ShardEmbedder(_ModelActor):
    """Encodes a decoded shard and writes it (atomically, self-checking) at the row's path."""

    def __call__(self, row: Row) -> Row:
        from pathlib import Path

        from emoret.embedding.shards import write_shard

        loaded, failures, _ = _unpacked(row["payload"])
        vectors, records = self.encoded(loaded)
        moments = any("moment_id" in record for record in records)
        meta = {**self.job.meta, "failures": failures, "moments": moments}
        entry = write_shard(Path(row["path"]), vectors, records, meta)
        return {"shard": row["shard"], "entry": _packed(entry)}


class SceneFeeler(_ModelActor):
    """Encodes a decoded shard and reads the scene's emotions; the rows go back to the driver."""

    def __init__(self, job: ModelJob) -> None:
        super().__init__(job)
        from emoret.perception.scene import SceneReader as Reader

        self.reader = Reader(self.model)

    def __call__(self, row: Row) -> Row:
        loaded, failures, faces = _unpacked(row["payload"])
        vectors, records = self.encoded(loaded)
        scenes = list(self.reader(vectors)) if records else []
        summaries = [summary for summaries in (faces or []) for summary in summaries]
        return {"shard": row["shard"], "payload": _packed((records, scenes, summaries, failures))}


def unpacked(data: bytes) -> Any:
    """A payload a stage sent back to the driver."""
    return _unpacked(data)
