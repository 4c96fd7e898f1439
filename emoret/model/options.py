"""How to load a model: the typed options :func:`emoret.model.factory.create_model` and the
loaders take (apart, so the loaders need not import the factory that calls them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelOptions:
    """How to load a model. ``device``: auto (CUDA when present), cpu or cuda.

    ``video_encoder`` / ``emotion`` / ``num_frames`` / ``tokenizer`` override what the
    source implies (see :func:`emoret.model.load.load_model`); ``seed`` fixes
    the draw of parameters the source does not hold.
    """

    device: str = "auto"
    video_encoder: str | None = None
    emotion: bool | None = None
    emotion_init: str = "zero"
    num_frames: int | None = None
    tokenizer: str | None = None
    seed: int = 0
