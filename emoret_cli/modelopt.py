"""Loading the model a command was given, with one-line errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emoret.model.emoret_model import EmoretModel


def load_model_or_fail(spec: str, device: str = "auto") -> EmoretModel:
    """The model at ``spec`` on ``device`` (auto: CUDA when present); a bad one: one line, exit 2
    (the InputError or ModelError of :func:`emoret.model.factory.create_model`)."""
    from emoret.model.factory import ModelOptions, create_model

    return create_model(spec, ModelOptions(device=device))
