"""Face detection with the Haar cascade that the OpenCV wheel ships (``cv2.data``).

OpenCV 5 dropped the cascades and ``CascadeClassifier`` from its wheels, so this
needs opencv-python-headless 4.x (pinned below 5 in pyproject.toml).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

CASCADE = "haarcascade_frontalface_default.xml"
# A face narrower than this share of the frame's short side is too small to read an expression from.
MIN_FACE_FRACTION = 0.08
MIN_FACE_PIXELS = 24
# Cascade level weights run from about 0 (barely a face) to 10+ (clear frontal faces);
# 1 - exp(-w / 4) maps them onto (0, 1): w = 9 → 0.89, w = 2 → 0.39.
WEIGHT_SCALE = 4.0


class FaceDetectorUnavailable(Exception):
    """OpenCV or its face cascade is missing."""


@dataclass(frozen=True)
class Face:
    x: int
    y: int
    w: int
    h: int
    confidence: float  # 0..1

    def crop(self, frame: np.ndarray) -> np.ndarray:
        return frame[self.y : self.y + self.h, self.x : self.x + self.w]


def confidence_of(weight: float) -> float:
    return 1.0 - math.exp(-max(float(weight), 0.0) / WEIGHT_SCALE)


class HaarFaceDetector:
    """Frontal faces in RGB uint8 frames, each with a confidence."""

    def __init__(self, cascade: str = CASCADE, min_neighbors: int = 5):
        try:
            import cv2
        except ImportError as err:
            raise FaceDetectorUnavailable(f"faces need OpenCV: pip install 'opencv-python-headless<5' ({err})") from None
        directory = getattr(getattr(cv2, "data", None), "haarcascades", "")
        path = os.path.join(directory, cascade)
        if not hasattr(cv2, "CascadeClassifier") or not os.path.isfile(path):
            raise FaceDetectorUnavailable(
                f"OpenCV {cv2.__version__} has no Haar face cascade (OpenCV 5 dropped them): "
                "pip install 'opencv-python-headless>=4.8,<5', or pass --no-faces"
            )
        self._cv2 = cv2
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise FaceDetectorUnavailable(f"{path}: OpenCV cannot read this cascade")
        self.min_neighbors = min_neighbors

    def __call__(self, frame: np.ndarray) -> list[Face]:
        cv2 = self._cv2
        gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY))
        side = max(MIN_FACE_PIXELS, int(MIN_FACE_FRACTION * min(gray.shape)))
        if min(gray.shape) < side:
            return []
        rects, _levels, weights = self.cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(side, side), outputRejectLevels=True
        )
        return [
            Face(int(x), int(y), int(w), int(h), confidence_of(weight))
            for (x, y, w, h), weight in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1), strict=False)
        ]
