"""Putting ``feel`` records' emotions onto other records of the same videos (embeddings, index items)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from emoret.embedding.encoder import Encoder
from emoret.errors import InputError
from emoret.perception.aggregate import as_dict, vector_of
from emoret.records import iter_numbered, source_name, video_id_of

CARRIED = ("video_emotions", "faces")


def moment_key(record: dict[str, Any]) -> tuple[str, Any, Any]:
    """What joins a feel record to another record of its video: the video id, and ``start``/``end``
    for a moment of one."""
    return str(video_id_of(record)), record.get("start"), record.get("end")


def read_emotions(path: str | os.PathLike) -> dict[tuple[str, Any, Any], dict[str, Any]]:
    """moment key → the fields of ``emoret feel`` output to carry over."""
    name = source_name(path)
    found: dict[tuple[str, Any, Any], dict[str, Any]] = {}
    for line, record in iter_numbered(path):
        if video_id_of(record) is None:
            raise InputError(name, "a record needs video_id or video", line)
        if vector_of(record.get("video_emotions")) is None:
            raise InputError(name, "no video_emotions (make this file with 'emoret feel')", line)
        found[moment_key(record)] = {key: record[key] for key in CARRIED if key in record}
    return found


def attach(records: Sequence[dict[str, Any]], emotions: dict[tuple[str, Any, Any], dict[str, Any]]) -> int:
    """Copy each record's video's emotions onto it, in place; returns how many found none."""
    missing = 0
    for record in records:
        fields = emotions.get(moment_key(record))
        if fields is None:
            missing += 1
        else:
            record.update(fields)
    return missing


def attach_scene(records: Sequence[dict[str, Any]], vectors: np.ndarray, model: Encoder, only_missing: bool = True) -> int:
    """Scene emotions from the records' own video embeddings; returns how many were added."""
    from emoret.perception.scene import SceneReader

    rows = [row for row, record in enumerate(records) if not (only_missing and "video_emotions" in record)]
    if not rows:
        return 0
    scores = SceneReader(model)(np.asarray(vectors)[rows])
    for row, score in zip(rows, scores, strict=False):
        records[row]["video_emotions"] = as_dict(score)
    return len(rows)
