"""Which frames of a video to keep and how to size them: the sampling rules, without decoding."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

RESIZE_MODES = ("crop", "squash")
# How ``num_frames`` frames are spread over a video: ``linspace`` (the seed's and CLIP-ViP's
# at test time: first and last frames included) or ``middle`` (the middles of equal segments).
SAMPLING_RULES = ("linspace", "middle")
DEFAULT_RULE = "linspace"


@dataclass(frozen=True)
class Sampling:
    """Which frames to keep and how to size them.

    ``num_frames`` spread over the whole video by ``rule`` (the default), or, with
    ``fps``, the video resampled at that rate. ``resize`` is ``crop`` (short side to
    ``size``, centre crop) or ``squash`` (straight to ``size`` x ``size``).

    Moments: with ``segment`` (seconds, windows ``overlap`` seconds apart from
    overlapping) or ``scenes`` (shots; ``segment`` then splits long shots), the video
    is cut into moments and the rule applies to each moment in turn.
    """

    num_frames: int | None = 12
    fps: float | None = None
    size: int = 224
    resize: str = "crop"
    rule: str = DEFAULT_RULE
    segment: float | None = None
    overlap: float = 0.0
    scenes: bool = False

    def __post_init__(self) -> None:
        if self.fps is None and (self.num_frames is None or self.num_frames < 1):
            raise ValueError("num_frames must be at least 1")
        if self.fps is not None and not self.fps > 0:
            raise ValueError("fps must be positive")
        if self.size < 1:
            raise ValueError("size must be at least 1")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}")
        if self.rule not in SAMPLING_RULES:
            raise ValueError(f"sampling rule must be one of {', '.join(SAMPLING_RULES)}")
        if self.segment is not None and not self.segment > 0:
            raise ValueError("segment must be positive")
        if not 0 <= self.overlap < (self.segment or math.inf) or (self.overlap and self.segment is None):
            raise ValueError("overlap needs segment, and must be at least 0 and less than it")

    @property
    def moments(self) -> bool:
        """Whether the video is cut into moments."""
        return self.segment is not None or self.scenes

    def as_record(self) -> dict[str, Any]:
        if self.fps is not None:
            record: dict[str, Any] = {"fps": self.fps, "size": self.size, "resize": self.resize}
        else:
            record = {"num_frames": self.num_frames, "rule": self.rule, "size": self.size, "resize": self.resize}
        # Only when set, so the records of whole-video runs stay as they were.
        if self.segment is not None:
            record.update(segment=self.segment, overlap=self.overlap)
        if self.scenes:
            record["scenes"] = True
        return record

    def indices(self, n_frames: int, source_fps: float | None) -> list[int]:
        if self.fps is not None:
            return resample_indices(n_frames, source_fps or self.fps, self.fps)
        assert self.num_frames is not None  # __post_init__ requires it when there is no fps
        return sample_indices(n_frames, self.num_frames, self.rule)


def sampling_record(record: Any) -> Any:
    """A manifest's ``sampling`` record as written now: records from before the rule was
    recorded were made with ``middle``, then the only rule."""
    if isinstance(record, dict) and "num_frames" in record and "rule" not in record:
        return {**record, "rule": "middle"}
    return record


def sample_indices(n_frames: int, num_frames: int, rule: str = DEFAULT_RULE) -> list[int]:
    """``num_frames`` indices spread over ``n_frames`` by ``rule``.

    ``linspace``: ``np.linspace(0, n - 1, T).astype(int)``, the seed's and CLIP-ViP's rule
    at test time, first and last frames included. ``middle``: ``int((i + 0.5) * n / T)``,
    the middle of T equal segments. A video shorter than T repeats frames.
    """
    if n_frames < 1:
        return []
    if rule == "linspace":
        return [int(i) for i in np.linspace(0, n_frames - 1, num_frames).astype(int)]
    if rule == "middle":
        return [min(n_frames - 1, int((i + 0.5) * n_frames / num_frames)) for i in range(num_frames)]
    raise ValueError(f"sampling rule must be one of {', '.join(SAMPLING_RULES)}")


def pick_frames(frames: np.ndarray, num_frames: int, rule: str = DEFAULT_RULE) -> np.ndarray:
    """``num_frames`` of the stored frames, spread by ``rule`` (repeating when fewer)."""
    if len(frames) == num_frames:
        return frames
    return frames[sample_indices(len(frames), num_frames, rule)]


def resample_indices(n_frames: int, source_fps: float, fps: float) -> list[int]:
    """Frames shown at ``0, 1/fps, 2/fps, ...`` over a video of ``n_frames`` at ``source_fps``."""
    if n_frames < 1:
        return []
    count = max(1, math.ceil(n_frames * fps / source_fps - 1e-9))
    return [min(n_frames - 1, int(k * source_fps / fps + 0.5)) for k in range(count)]


def scaled_size(width: int, height: int, size: int, resize: str) -> tuple[int, int]:
    """The size a frame is scaled to before the centre crop (none for ``squash``)."""
    if resize == "squash":
        return size, size
    if width <= height:
        return size, max(size, round(height * size / width))
    return max(size, round(width * size / height)), size
