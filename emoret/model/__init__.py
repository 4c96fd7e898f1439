"""The emotion-aware video-text model (a CLIP or SigLIP dual encoder + video encoder + emotion embedding).

Importing this package is cheap; torch and transformers load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emoret.model.emoret_model import EmoretModel
    from emoret.model.load import load_model

__all__ = ["EmoretModel", "load_model"]


def __getattr__(name: str) -> object:
    # Loaded on first use (torch, transformers): importing the package stays cheap.
    if name == "EmoretModel":
        from emoret.model.emoret_model import EmoretModel

        return EmoretModel
    if name == "load_model":
        from emoret.model.load import load_model

        return load_model
    raise AttributeError(name)
