"""``emoret.json``: what emoret adds to a Hugging Face CLIP directory.

The CLIP part of a model directory is plain ``config.json`` + ``model.safetensors``;
this file records how the video and text encoders use it, and a fingerprint of the
weights so that embeddings and indexes can tell which model made them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from emoret.atomic import write_bytes_atomic
from emoret.errors import InputError

EMORET_FILE = "emoret.json"
VIDEO_ENCODERS = ("vip", "meanpool")
EMOTION_INITS = ("zero", "normal")
FORMAT_VERSION = 1


@dataclass
class EmoretConfig:
    video_encoder: str = "meanpool"
    num_frames: int = 12
    # Video proxy tokens, counting the CLS token (CLIP-ViP's M).
    num_proxies: int = 4
    image_size: int = 224
    emotion: bool = False
    emotion_init: str = "zero"
    base: str = ""
    fingerprint: str = ""
    # The weights file the fingerprint was computed from: a file of another size or
    # modification time (swapped since) has its fingerprint computed again on load.
    weights_size: int = 0
    weights_mtime_ns: int = 0
    format: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.video_encoder not in VIDEO_ENCODERS:
            raise ValueError(f"unknown video encoder {self.video_encoder!r}: choose {' or '.join(VIDEO_ENCODERS)}")
        if self.emotion_init not in EMOTION_INITS:
            raise ValueError(f"unknown emotion init {self.emotion_init!r}: choose {' or '.join(EMOTION_INITS)}")
        if self.num_frames < 1:
            raise ValueError("num_frames must be at least 1")
        if self.num_proxies < 1:
            raise ValueError("num_proxies must be at least 1 (the CLS token)")

    def to_dict(self) -> dict:
        return asdict(self)

    def identity(self) -> dict:
        """What the fingerprint covers: everything that changes the embeddings."""
        out = self.to_dict()
        for volatile in ("fingerprint", "base", "emotion_init", "weights_size", "weights_mtime_ns"):
            out.pop(volatile)
        return out

    def save(self, directory: str | os.PathLike) -> None:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        write_bytes_atomic(Path(directory) / EMORET_FILE, text.encode())

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "EmoretConfig":
        path = Path(directory) / EMORET_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(str(path), "no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(str(path), f"malformed JSON ({err})") from None
        if not isinstance(raw, dict):
            raise InputError(str(path), "expected a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InputError(str(path), f"unknown key {unknown[0]!r} (written by a newer emoret?)")
        try:
            return cls(**raw)
        except (TypeError, ValueError) as err:
            raise InputError(str(path), str(err)) from None
