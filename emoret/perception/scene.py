"""Scene emotions, zero-shot through the model's own towers.

Each of the nine classes is the normalised mean of its prompts' text embeddings
(see :mod:`prompts`); a video's scores are the softmax, at the model's logit scale,
of its embedding's cosine with each class. Works with any CLIP or emoret model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emoret.embedding.encoder import Encoder
from emoret.perception import VIDEO_EMOTIONS
from emoret.perception.prompts import TEMPLATES, class_prompts

# CLIP clamps its learned logit scale at 100; a model without one gets CLIP's initial scale.
MAX_LOGIT_SCALE = 100.0
DEFAULT_LOGIT_SCALE = 1 / 0.07


def class_embeddings(model: Encoder, templates: Sequence[str] = TEMPLATES) -> np.ndarray:
    """[9, D] unit vectors, one a class in VIDEO_EMOTIONS order.

    Prompts are embedded as captions are, with their own NRC emotion counts, so an
    emoret model's emotion embedding sees the prompt's words as it saw its captions'.
    """
    from emoret.embedding.runner import embed_texts
    from emoret.text.emotions import query_emotions

    classes = []
    for emotion in VIDEO_EMOTIONS:
        prompts = class_prompts(emotion, tuple(templates))
        vectors = embed_texts(model, prompts, [query_emotions(p) for p in prompts])
        mean = vectors.mean(axis=0)
        classes.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
    return np.stack(classes).astype(np.float32)


def logit_scale(model: object) -> float:
    """The model's learned temperature (exp of CLIP's ``logit_scale``), capped at 100; CLIP's
    initial one for a model that learned none (the Encoder protocol does not ask for one)."""
    clip = getattr(model, "clip", None)
    raw = getattr(clip, "logit_scale", None)
    if raw is None:
        return DEFAULT_LOGIT_SCALE
    return float(min(float(np.exp(float(raw.detach().float().cpu()))), MAX_LOGIT_SCALE))


def scene_scores(video_vectors: np.ndarray, classes: np.ndarray, scale: float) -> np.ndarray:
    """[N, 9] probabilities: softmax over the classes of ``scale`` × cosine."""
    logits = scale * np.asarray(video_vectors, dtype=np.float64) @ np.asarray(classes, dtype=np.float64).T
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


class SceneReader:
    """Class embeddings built once for a model; then scores for any video embeddings."""

    def __init__(self, model: Encoder, templates: Sequence[str] = TEMPLATES) -> None:
        self.classes = class_embeddings(model, templates)  # NaN from the model stops in embed_texts
        self.scale = logit_scale(model)
        if not np.isfinite(self.scale):
            from emoret.errors import ModelError

            raise ModelError(model.source, "its logit_scale is not a number")

    def __call__(self, video_vectors: np.ndarray) -> np.ndarray:
        return scene_scores(video_vectors, self.classes, self.scale)
