"""Checks of a weights file before and while it is loaded, so that a damaged or foreign
file is one line of bad input instead of an error deep in torch or transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoret.errors import InputError, first_line

FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}


def check_float_weights(weights: Path, source: str) -> None:
    """Every tensor of a safetensors file floating point (position ids aside); reads the header only."""
    if not weights.is_file():
        return  # transformers says what is missing
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            for name in handle.keys():
                dtype = handle.get_slice(name).get_dtype()
                if dtype not in FLOAT_DTYPES and not name.endswith("position_ids"):
                    raise InputError(str(weights), f"tensor {name} is {dtype}: model weights are floating point")
    except (OSError, SafetensorError) as err:
        raise InputError(str(weights), f"cannot read the weights ({first_line(err)})") from None


def loading_reason(err: BaseException) -> str:
    """The line that says why transformers could not load a model: the cause where it wraps one
    (its config validators put "hidden size -5 ..." in the cause, under a generic headline)."""
    return first_line(err.__cause__ if err.__cause__ is not None else err)


def check_extra_shape(name: str, tensor: Any, expected: tuple[int | None, ...], source: str) -> None:
    """An emoret tensor (emotion table, proxies, temporal embedding) of the shape the model needs
    (None: any size there) and floating point."""
    shape = tuple(tensor.shape)
    fits = len(shape) == len(expected) and all(want is None or have == want for have, want in zip(shape, expected, strict=True))
    if not fits:
        wanted = "x".join("N" if want is None else str(want) for want in expected)
        raise InputError(source, f"tensor {name} is {'x'.join(map(str, shape))}, the model needs {wanted}")
    if not tensor.is_floating_point():
        raise InputError(source, f"tensor {name} is {tensor.dtype}: model weights are floating point")
