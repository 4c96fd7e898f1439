"""Which torch device a ``--device auto|cpu|cuda[:N]`` choice means here."""

from __future__ import annotations

from emoret.errors import InputError


def resolve_device(spec: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is present, else ``cpu``; refuse what cannot run here."""
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec != "cpu" and not spec.startswith("cuda"):
        raise InputError("--device", f"unknown device {spec!r}: use auto, cpu or cuda")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device", f"{spec} asked for, but CUDA is not available here")
    return spec
