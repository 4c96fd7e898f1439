"""Checkpoints of a run: a model directory plus the state to resume from, published atomically.

    OUT/checkpoints/step-N/     a model directory (+ train_state.pt for resuming)
    OUT/last -> checkpoints/step-N   the newest checkpoint (symlink, swapped atomically)
    OUT/best -> checkpoints/step-M   the best by validation R@1+R@5+R@10 (else the newest)

Older checkpoints that neither link points at are removed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoret.errors import InputError

if TYPE_CHECKING:  # torch and the model load when training starts, not when the CLI parses flags
    from emoret.model import EmoretModel

STATE_FILE = "train_state.pt"
STATE_KEYS = ("step", "epoch", "batch", "best", "epoch_losses", "optimizer", "scaler", "rng")


def save_checkpoint(out: Path, model: EmoretModel, train_state: dict[str, Any], is_best: bool) -> Path:
    """Write checkpoints/step-N (model dir + state) under a temporary name, then swap links."""
    import torch  # heavy: imported when training starts, not when the CLI parses flags

    folder = out / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{train_state['step']:07d}"
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save(tmp)
        with open(tmp / STATE_FILE, "wb") as handle:  # a handle: a full disk is an OSError, not a RuntimeError
            torch.save(train_state, handle)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk or Ctrl-C: no half checkpoint stays
        raise
    final = folder / name
    if final.exists():  # left by a run killed before it moved the links on
        shutil.rmtree(final)
    os.rename(tmp, final)
    _swap_link(out / "last", f"checkpoints/{name}")
    if is_best:
        _swap_link(out / "best", f"checkpoints/{name}")
    _prune(out)
    return final


def sweep_partial_checkpoints(out: Path) -> None:
    """Remove the half-written checkpoints and link temps of a run that was killed."""
    for leftover in (out / "checkpoints").glob(".step-*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    for name in ("last", "best"):
        for leftover in out.glob(f".{name}.*.tmp"):
            if leftover.is_symlink():
                leftover.unlink(missing_ok=True)


def read_train_state(out: Path) -> dict[str, Any] | None:
    """The state saved with ``OUT/last``, or None when there is none."""
    from emoret.model.tensor_file import load_tensors

    path = out / "last" / STATE_FILE
    if not path.exists():
        return None
    state = load_tensors(path, "train state")
    if not isinstance(state, dict) or not all(key in state for key in STATE_KEYS):
        raise InputError(str(path), f"not a train state (needs {', '.join(STATE_KEYS)})")
    return state


def rng_state() -> dict[str, Any]:
    """torch's random generators (CPU, and CUDA where present), to save with a checkpoint."""
    import torch

    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _swap_link(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (a new symlink renamed over the old)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _prune(out: Path) -> None:
    keep = {os.path.realpath(out / name) for name in ("last", "best") if (out / name).is_symlink()}
    for path in (out / "checkpoints").iterdir():
        if path.is_dir() and os.path.realpath(path) not in keep:
            shutil.rmtree(path, ignore_errors=True)
