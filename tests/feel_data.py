"""Test data for the face path: a tiny ONNX expression model with HSEmotion's contract, and drawn faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emoret.perception.expression import AFFECTNET_CLASSES

WARM = (255, 200, 120)
BLUE = (110, 150, 255)


def tiny_expression_model(path: Path, size: int = 32, channels: int = 3, shift: float = 0.0) -> Path:
    """[N, 3, S, S] → [N, 8] logits: a crop redder than blue (mean normalised channels) reads
    'happiness', bluer 'sadness'; a bias makes a flat crop of ImageNet's mean colour 'neutral'.
    Hostile variants: ``channels`` other than 3, ``shift`` NaN or infinity added to the logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.zeros((channels, len(AFFECTNET_CLASSES)), dtype=np.float32)
    happy, sad = AFFECTNET_CLASSES.index("happiness"), AFFECTNET_CLASSES.index("sadness")
    if channels == 3:
        weights[0, happy], weights[2, happy] = 3.0, -3.0
        weights[2, sad], weights[0, sad] = 3.0, -3.0
    bias = np.full(len(AFFECTNET_CLASSES), shift, dtype=np.float32)
    bias[AFFECTNET_CLASSES.index("neutral")] += 1.0
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "W"], ["scores"]),
            helper.make_node("Add", ["scores", "B"], ["logits"]),
        ],
        "tiny_expression",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(AFFECTNET_CLASSES)])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by older onnxruntime builds too
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def draw_face(size: int = 120, colour: tuple[int, int, int] = WARM, background: int = 40) -> np.ndarray:
    """An RGB frame with one cartoon frontal face (eyes, brows, nose, mouth) that the Haar cascade finds."""
    import cv2

    image = np.full((size, size, 3), background, np.uint8)
    c = size // 2
    cv2.ellipse(image, (c, c), (int(size * 0.28), int(size * 0.36)), 0, 0, 360, colour, -1)
    for side in (-1, 1):
        eye = (c + side * int(size * 0.11), c - int(size * 0.08))
        cv2.ellipse(image, eye, (int(size * 0.06), int(size * 0.03)), 0, 0, 360, (30, 30, 30), -1)
        brow = (c + side * int(size * 0.05), c - int(size * 0.15)), (c + side * int(size * 0.18), c - int(size * 0.15))
        cv2.line(image, brow[0], brow[1], (60, 40, 30), max(2, size // 40))
    cv2.line(image, (c, c - int(size * 0.04)), (c, c + int(size * 0.08)), (150, 120, 100), max(1, size // 60))
    cv2.ellipse(image, (c, c + int(size * 0.18)), (int(size * 0.1), int(size * 0.03)), 0, 0, 360, (120, 40, 40), -1)
    return image


def blank_frame(size: int = 120, background: int = 40) -> np.ndarray:
    return np.full((size, size, 3), background, np.uint8)


def face_store(root: Path) -> Path:
    """A frame store: 'smiling' (warm faces in 2 of 3 frames), 'blue' (a blue face in every frame), 'empty'."""
    from emoret.video.frames import save_frames, write_manifest

    videos = {
        "smiling": np.stack([draw_face(), blank_frame(), draw_face()]),
        "blue": np.stack([draw_face(colour=BLUE)] * 3),
        "empty": np.stack([blank_frame()] * 3),
    }
    out = root / "faces-frames"
    for video_id, frames in videos.items():
        save_frames(out, video_id, frames)
    write_manifest(out, [{"video_id": v, "n_frames": 3} for v in videos])
    return out
