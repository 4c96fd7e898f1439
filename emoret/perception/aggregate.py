"""One video's emotions from its two sources, the scene and the faces."""

from __future__ import annotations

from typing import Any

import numpy as np

from emoret.perception import VIDEO_EMOTIONS
from emoret.perception.faces import FaceSummary

# How much the faces count when every sampled frame shows one; fewer frames with a
# face, proportionally less (a face glimpsed once says little about the whole video).
DEFAULT_FACE_SHARE = 0.5
DECIMALS = 4


def combine(scene: np.ndarray | None, faces: FaceSummary | None, face_share: float = DEFAULT_FACE_SHARE) -> np.ndarray:
    """[9] scores summing to 1: the scene, the faces, or a mix; all neutral when neither saw anything."""
    face_scores = faces.scores if faces is not None else None
    if scene is None and face_scores is None:
        neutral = np.zeros(len(VIDEO_EMOTIONS))
        neutral[VIDEO_EMOTIONS.index("neutral")] = 1.0
        return neutral
    if face_scores is None:
        return np.asarray(scene, dtype=np.float64)
    if scene is None:
        return np.asarray(face_scores, dtype=np.float64)
    assert faces is not None
    share = face_share * faces.frames / max(1, faces.sampled)
    return (1.0 - share) * np.asarray(scene, dtype=np.float64) + share * np.asarray(face_scores, dtype=np.float64)


def as_dict(scores: np.ndarray) -> dict[str, float]:
    return {name: round(float(value), DECIMALS) for name, value in zip(VIDEO_EMOTIONS, scores, strict=False)}


def vector_of(video_emotions: Any) -> np.ndarray | None:
    """A record's ``video_emotions`` as a [9] array; None when absent or malformed."""
    if not isinstance(video_emotions, dict):
        return None
    try:
        return np.array([float(video_emotions.get(name, 0.0) or 0.0) for name in VIDEO_EMOTIONS])
    except (TypeError, ValueError):
        return None
