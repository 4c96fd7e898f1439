"""Faces of a video's frames: detect, classify each face's expression, aggregate.

Each face counts in proportion to its share of the frame's area times the
detector's confidence, so a large clear face outweighs a small doubtful one, and
the video's face emotions are the weighted mean over every face in every frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from emoret.perception.detect import Face


@dataclass
class FaceSummary:
    scores: np.ndarray | None  # [9] video-emotion probabilities; None when no face was seen
    count: int  # the most faces seen in one frame
    frames: int  # frames with at least one face
    sampled: int  # frames looked at

    def as_record(self) -> dict[str, int]:
        return {"count": self.count, "frames": self.frames}


def face_weight(face: Face, frame_shape: Sequence[int]) -> float:
    """Size (share of the frame's area) × detection confidence."""
    height, width = int(frame_shape[0]), int(frame_shape[1])
    return (face.w * face.h) / max(1, height * width) * face.confidence


def aggregate(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """The weighted mean of per-face probabilities ([N, 9]); None for no face."""
    weights = np.asarray(weights, dtype=np.float64)
    if len(weights) == 0 or weights.sum() <= 0:
        return None
    return (np.asarray(probabilities, dtype=np.float64) * weights[:, None]).sum(axis=0) / weights.sum()


class FaceReader:
    """Detector + expression classifier applied to a video's frames (uint8 [T, H, W, 3])."""

    def __init__(self, detector: Callable[[np.ndarray], list[Face]], classifier: Callable[[Sequence[np.ndarray]], np.ndarray]):
        self.detector = detector
        self.classifier = classifier

    def __call__(self, frames: np.ndarray) -> FaceSummary:
        crops, weights, most, with_face = [], [], 0, 0
        for frame in frames:
            faces = [face for face in self.detector(frame) if face.w > 0 and face.h > 0]
            most = max(most, len(faces))
            with_face += bool(faces)
            for face in faces:
                crops.append(face.crop(frame))
                weights.append(face_weight(face, frame.shape))
        scores = aggregate(self.classifier(crops), np.asarray(weights)) if crops else None
        return FaceSummary(scores, most, with_face, len(frames))


class FacesUnavailable(Exception):
    """No face pipeline here: OpenCV's detector or the expression model is missing or broken."""


def face_reader(face_model: str | os.PathLike[str] | None = None) -> FaceReader:
    """OpenCV's face detector with the expression model: ``face_model`` (an ONNX file of
    HSEmotion's 8-class contract), else the default, fetched once into the cache."""
    from emoret.perception.detect import FaceDetectorUnavailable, HaarFaceDetector
    from emoret.perception.expression import ExpressionClassifier, ExpressionModelError
    from emoret.perception.face_model import FaceModelUnavailable, face_model_path

    try:
        return FaceReader(HaarFaceDetector(), ExpressionClassifier(face_model_path(face_model)))
    except (FaceDetectorUnavailable, FaceModelUnavailable, ExpressionModelError) as err:
        raise FacesUnavailable(str(err)) from err
