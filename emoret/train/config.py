"""The settings of a training run: defaults, a JSON/YAML file, then the flags given."""

from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from emoret.errors import InputError, first_line

AMP_CHOICES = ("auto", "bf16", "fp16", "off")


@dataclass
class TrainConfig:
    model: str = ""
    captions: str = ""
    frames: str = ""
    out: str = ""
    val_captions: str | None = None
    video_encoder: str = "vip"
    emotion: bool = True
    emotion_init: str = "zero"
    # Weight of the emotion alignment term (emoret.model.loss.emotion_alignment); 0: off.
    emotion_loss: float = 0.0
    num_frames: int = 12
    sampling: str = "linspace"  # how num_frames are picked from a store holding more or fewer
    epochs: int = 5
    batch_size: int = 32  # per process
    accum_steps: int = 1
    lr: float = 1e-6  # CLIP weights (CLIP-ViP's rate)
    lr_new: float = 1e-4  # proxies, temporal and emotion embeddings, temperature
    weight_decay: float = 0.2
    warmup: float = 0.01  # fraction of the optimiser steps
    grad_clip: float = 1.0
    amp: str = "auto"  # bf16 on a GPU, off on the CPU
    seed: int = 0
    save_every: int = 0  # optimiser steps between checkpoints; 0: at each epoch's end
    # (a new best on validation and the end of training are always saved)
    device: str = "auto"
    # CPU threads for torch (0: its default). Small models train several times faster on
    # one thread when other jobs share the cores: each op's threads otherwise wait on them.
    threads: int = 0

    def validate(self, source: str = "train settings") -> None:
        for key in ("model", "captions", "frames", "out"):
            if not getattr(self, key):
                raise InputError(source, f"missing setting {key!r}")
        checks = [
            (self.video_encoder in ("vip", "meanpool"), "video_encoder must be vip or meanpool"),
            (self.emotion_init in ("zero", "normal"), "emotion_init must be zero or normal"),
            (self.emotion_loss >= 0, "emotion_loss must not be negative"),
            (self.emotion_loss == 0 or self.emotion, "emotion_loss needs the emotion embedding (--emotion)"),
            (self.amp in AMP_CHOICES, f"amp must be one of {', '.join(AMP_CHOICES)}"),
            (self.num_frames >= 1, "num_frames must be at least 1"),
            (self.sampling in ("linspace", "middle"), "sampling must be linspace or middle"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 2, "batch_size must be at least 2 (contrastive loss needs negatives)"),
            (self.accum_steps >= 1, "accum_steps must be at least 1"),
            (self.lr >= 0 and self.lr_new >= 0, "learning rates must not be negative"),
            (0 <= self.warmup < 1, "warmup is a fraction of the steps, in [0, 1)"),
            (self.grad_clip >= 0, "grad_clip must not be negative (0 turns it off)"),
            (self.save_every >= 0, "save_every must not be negative"),
            (self.threads >= 0, "threads must not be negative (0: torch's default)"),
        ]
        for ok, why in checks:
            if not ok:
                raise InputError(source, why)


def config_keys() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Settings from a JSON or YAML file (same keys as the flags, '-' or '_' alike)."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise InputError(source, "no such file") from None
    except (IsADirectoryError, UnicodeDecodeError) as err:
        raise InputError(source, f"cannot read ({err})") from None
    try:
        if Path(path).suffix.lower() in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except Exception as err:  # json and yaml errors alike
        raise InputError(source, f"malformed config ({first_line(err)})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InputError(source, "expected a mapping of setting names to values")
    known = config_keys()
    out = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise InputError(source, f"unknown key {key!r}")
        out[name] = value
    return out


def make_config(file_values: dict[str, Any], overrides: dict[str, Any], source: str = "train settings") -> TrainConfig:
    """Defaults, then the config file, then the flags given (``None`` = not given)."""
    values = asdict(TrainConfig())
    values.update(file_values)
    values.update({k: v for k, v in overrides.items() if v is not None})
    kinds = _setting_types()
    for key, value in values.items():
        values[key] = _coerce(key, value, kinds[key], source)
    config = TrainConfig(**values)
    config.validate(source)
    return config


def _setting_types() -> dict[str, type]:
    """Each setting's value type, ``X | None`` read as ``X`` (the annotations are strings here)."""
    kinds = {}
    for name, hint in typing.get_type_hints(TrainConfig).items():
        if isinstance(hint, types.UnionType):
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        kinds[name] = hint
    return kinds


def _coerce(key: str, value: Any, kind: type, source: str) -> Any:
    try:
        if value is None:
            return None
        if kind is bool:
            if isinstance(value, str):
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise InputError(source, f"{key} = {value!r} is not a valid {kind.__name__}") from None
