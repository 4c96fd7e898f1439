"""Facial-expression classification with an ONNX model run by onnxruntime.

The contract is HSEmotion's (models trained on AffectNet, 8 classes): an RGB face
crop resized to the model's square input (224 for the EfficientNet-B0 models, 260
for B2), scaled to 0..1, normalised with ImageNet's mean and std, NCHW float32;
the output is 8 logits in the order below.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from emoret.errors import ModelError, first_line
from emoret.perception import VIDEO_EMOTIONS

AFFECTNET_CLASSES: tuple[str, ...] = (
    "anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
)  # fmt: skip
# AffectNet class → the video-emotion key it counts for (contempt reads as disgust).
TO_VIDEO_EMOTION = {
    "anger": "anger", "contempt": "disgust", "disgust": "disgust", "fear": "fear",
    "happiness": "joy", "neutral": "neutral", "sadness": "sadness", "surprise": "surprise",
}  # fmt: skip
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_INPUT_SIZE = 224


# HSEmotion's models take 224 or 260; a model declaring far more would make each face
# crop a huge tensor (60000 x 60000 x 3 floats: 40 GB) before anything could fail.
MAX_INPUT_SIZE = 1024


class ExpressionModelError(ModelError):
    """The ONNX file cannot be loaded, does not follow the 8-class contract, or gives
    logits that are not numbers: bad input (the ``--face-model``), one line."""


def mapping_matrix() -> np.ndarray:
    """[8, 9]: AffectNet probabilities → video-emotion probabilities."""
    matrix = np.zeros((len(AFFECTNET_CLASSES), len(VIDEO_EMOTIONS)), dtype=np.float64)
    for row, name in enumerate(AFFECTNET_CLASSES):
        matrix[row, VIDEO_EMOTIONS.index(TO_VIDEO_EMOTION[name])] = 1.0
    return matrix


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


class ExpressionClassifier:
    """Face crops (RGB uint8) → [N, 9] video-emotion probabilities."""

    def __init__(self, path: str | os.PathLike, threads: int = 1):
        import onnxruntime as ort  # type: ignore[import-untyped]

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            raise ExpressionModelError(str(path), f"not a usable ONNX model ({first_line(err)})") from None
        self.source = str(path)
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.size = _square_size(model_input.shape, self.source)
        outputs = self.session.get_outputs()[0].shape
        if len(outputs) != 2 or (isinstance(outputs[1], int) and outputs[1] != len(AFFECTNET_CLASSES)):
            raise ExpressionModelError(self.source, f"expected [N, 8] AffectNet logits, the model gives {outputs}")
        self._mapping = mapping_matrix()

    def preprocess(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        import cv2

        batch = np.empty((len(crops), 3, self.size, self.size), dtype=np.float32)
        for i, crop in enumerate(crops):
            resized = cv2.resize(np.ascontiguousarray(crop), (self.size, self.size)).astype(np.float32) / 255.0
            batch[i] = ((resized - MEAN) / STD).transpose(2, 0, 1)
        return batch

    def affectnet_probabilities(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """[N, 8] probabilities in AFFECTNET_CLASSES order."""
        if not crops:
            return np.zeros((0, len(AFFECTNET_CLASSES)))
        try:
            raw = self.session.run(None, {self.input_name: self.preprocess(crops)})[0]
            logits = np.asarray(raw, dtype=np.float64)
        except Exception as err:  # onnxruntime's own types: a model that cannot run on a face crop
            raise ExpressionModelError(self.source, f"cannot run on a face crop ({first_line(err)})") from None
        if logits.ndim != 2 or logits.shape[1] != len(AFFECTNET_CLASSES):
            raise ExpressionModelError(self.source, f"expected [N, 8] logits, the model gave {list(logits.shape)}")
        if not np.isfinite(logits).all():
            raise ExpressionModelError(self.source, "the model gave NaN or infinite logits for a face")
        return softmax(logits)

    def __call__(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return self.affectnet_probabilities(crops) @ self._mapping


def _square_size(shape: Sequence, source: str) -> int:
    """The model's input side from [N, 3, S, S]; HSEmotion's B0 size where it is dynamic."""
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise ExpressionModelError(source, f"expected an RGB input [N, 3, S, S], the model takes {list(shape)}")
    if not (isinstance(shape[2], int) and shape[2] > 0):
        return DEFAULT_INPUT_SIZE
    sides = [side for side in shape[2:] if isinstance(side, int)]
    if max(sides) > MAX_INPUT_SIZE:
        raise ExpressionModelError(source, f"input of {shape[2]}x{shape[3]}: face models take at most "
                                           f"{MAX_INPUT_SIZE}x{MAX_INPUT_SIZE}")
    return int(shape[2])

