"""The emotion-aware video-text model (CLIP + video proxies + emotion embedding).

Importing this package is cheap; torch and transformers load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emoret.model.emoret_model import EmoretModel

__all__ = ["EmoretModel", "load_model"]


def load_model(spec, device="cpu", video_encoder=None, **options: Any) -> "EmoretModel":
    """Load a hub id, a local CLIP dir, an emoret model dir or a CLIP-ViP ``.pt``.

    See :func:`emoret.model.load.load_model` for the options.
    """
    from emoret.model.load import load_model as _load

    return _load(spec, device=device, video_encoder=video_encoder, **options)


def __getattr__(name: str):
    if name == "EmoretModel":
        from emoret.model.emoret_model import EmoretModel

        return EmoretModel
    raise AttributeError(name)
