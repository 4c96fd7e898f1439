"""Loading the model a command was given, with one-line errors."""

from __future__ import annotations

from typing import Any

from emoret_cli.common import fail


def load_model_or_fail(spec: str, device: str = "auto") -> Any:
    """The model at ``spec`` on ``device`` (auto: CUDA when present); exit 2 if it cannot load."""
    from emoret.devices import resolve_device
    from emoret.errors import InputError
    from emoret.model import load_model

    device = resolve_device(device)  # an InputError: one line, exit 2
    try:
        return load_model(spec, device=device)
    except InputError:
        raise
    except (OSError, ValueError) as err:
        # transformers reports a missing hub model or a broken directory as OSError.
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        fail(f"{spec}: cannot load the model ({first})")
