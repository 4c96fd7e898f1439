"""Where work runs: which torch device a ``--device auto|cpu|cuda[:N]`` choice means, and how many CPUs."""

from __future__ import annotations

import os

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


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS has one, as Linux does; else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
