"""Loading the model a command was given, with one-line errors."""

from __future__ import annotations

from emoret import api


def load_model_or_fail(spec: str, device: str = "auto") -> api.Encoder:
    """The model at ``spec`` on ``device`` (auto: CUDA when present); a bad one: one line, exit 2
    (the InputError or ModelError of :func:`emoret.model.factory.create_model`)."""
    return api.create_model(spec, api.ModelOptions(device=device))
