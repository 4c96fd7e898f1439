"""Loading the model a command was given, with one-line errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emoret.devices import resolve_device
from emoret.errors import InputError, first_line
from emoret_cli.common import fail

if TYPE_CHECKING:
    from emoret.model.emoret_model import EmoretModel


def load_model_or_fail(spec: str, device: str = "auto") -> EmoretModel:
    """The model at ``spec`` on ``device`` (auto: CUDA when present); exit 2 if it cannot load."""
    from emoret.model import load_model  # torch and transformers: only when a command needs the model

    device = resolve_device(device)  # an InputError: one line, exit 2
    try:
        return load_model(spec, device=device)
    except InputError:
        raise
    except (OSError, ValueError) as err:
        # transformers reports a missing hub model or a broken directory as OSError.
        fail(f"{spec}: cannot load the model ({first_line(err)})")
