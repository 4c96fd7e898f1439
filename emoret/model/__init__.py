"""The emotion-aware video-text model (a CLIP or SigLIP dual encoder + video encoder + emotion embedding).

Importing this package is cheap; torch and transformers load on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from emoret.model.emoret_model import EmoretModel

__all__ = ["EmoretModel", "load_model"]


def load_model(
    spec: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    video_encoder: str | None = None,
    *,
    emotion: bool | None = None,
    emotion_init: str = "zero",
    num_frames: int | None = None,
    tokenizer: str | None = None,
    seed: int = 0,
) -> EmoretModel:
    """Load a hub id, a local CLIP or SigLIP dir, an emoret model dir or a CLIP-ViP ``.pt``.

    See :func:`emoret.model.load.load_model` for the options.
    """
    from emoret.model.load import load_model as _load

    return _load(spec, device=device, video_encoder=video_encoder, emotion=emotion, emotion_init=emotion_init,
                 num_frames=num_frames, tokenizer=tokenizer, seed=seed)


def __getattr__(name: str) -> object:
    if name == "EmoretModel":
        from emoret.model.emoret_model import EmoretModel

        return EmoretModel
    raise AttributeError(name)
