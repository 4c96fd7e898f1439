"""Moments of a long video: fixed windows or shots, each an item of its own.

A moment is a span ``[start, end)`` in seconds. Its id is ``<video_id>@<start>-<end>``
with times in seconds, at most three decimals and no trailing zeros
(``party@120-130``, ``party@2.5-7.25``), so it reads as what it is and sorts by video.

Shots are found with PyAV alone (:func:`detect_shots`): each frame, decoded small,
is compared with the one before; a large change is a cut. A short burst of change that
comes back to the picture before it (a flash, a flicker) is not a cut. See
``bench/moments.py`` for how it compares with PySceneDetect.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from emoret.video.container import StreamInfo, VideoError, open_video

if TYPE_CHECKING:  # PyAV loads FFmpeg's libraries: imported where a video is opened
    import av

# Cut when the mean absolute change of the small frame exceeds this (0-255 scale; YUV for
# 4:2:0 video). Chosen on the long synthetic videos (bench/moments.py): 8 and 10 found every cut.
CUT_THRESHOLD = 9.0
# A shot shorter than this is merged into the one before (seconds).
MIN_SHOT_SECONDS = 1.0
_SIGNATURE_SIZE = (32, 18)  # width, height of the frames compared


def format_time(seconds: float) -> str:
    """``12``, ``2.5``, ``7.25``: seconds with at most three decimals, no trailing zeros."""
    text = f"{round(float(seconds), 3):.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def moment_id(video_id: str, start: float, end: float) -> str:
    return f"{video_id}@{format_time(start)}-{format_time(end)}"


def moment_record(video: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """A moment's record: its video's record with ``moment_id``, ``start`` and ``end`` (seconds)."""
    record = {key: value for key, value in video.items() if key != "moments"}
    record.update(moment_id=moment_id(str(video.get("video_id")), start, end), start=start, end=end)
    return record


def clock(seconds: float) -> str:
    """``1:02:03.5`` / ``2:03.5`` / ``0:03``: a moment's time as people read it."""
    tenths = round(float(seconds) * 10)
    whole, tenth = divmod(tenths, 10)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return text + (f".{tenth}" if tenth else "")


def windows(duration: float, length: float, overlap: float = 0.0, start: float = 0.0) -> list[tuple[float, float]]:
    """Windows of ``length`` seconds, each ``length - overlap`` after the last, over ``[start, start + duration)``.

    The last window ends at the end (it may be shorter); a video shorter than one window
    is one moment. No window lies wholly inside the one before it.
    """
    if not length > 0 or not 0 <= overlap < length:
        raise ValueError("need length > 0 and 0 <= overlap < length")
    end = start + max(0.0, duration)
    step = length - overlap
    spans = []
    k = 0
    while True:
        begin = start + k * step
        stop = min(begin + length, end)
        spans.append((round(begin, 3), round(stop, 3)))
        if begin + length >= end - 1e-6:
            return spans
        k += 1


def frame_range(span: tuple[float, float], fps: float, n_frames: int) -> tuple[int, int]:
    """The frames ``[a, b)`` shown during ``span`` (at least one, inside the video)."""
    first = min(max(0, math.floor(span[0] * fps + 1e-6)), n_frames - 1)
    last = min(n_frames, math.ceil(span[1] * fps - 1e-6))
    return first, max(first + 1, last)


@dataclass(frozen=True)
class Shots:
    """Shot boundaries of one video: cut times in seconds and the video's duration."""

    cuts: list[float]
    duration: float

    def spans(self) -> list[tuple[float, float]]:
        edges = [0.0, *self.cuts, self.duration]
        return [(round(a, 3), round(b, 3)) for a, b in zip(edges, edges[1:], strict=False) if b > a]


def detect_shots(path: str | os.PathLike, threshold: float = CUT_THRESHOLD,
                 min_shot: float = MIN_SHOT_SECONDS, threads: int = 0) -> Shots:
    """Cuts between shots, from the change between consecutive small frames (PyAV only)."""
    signatures, fps = _signatures(path, threads)
    change = np.abs(np.diff(signatures, axis=0)).mean(axis=(1, 2, 3)) if len(signatures) > 1 else np.zeros(0)
    candidates = [int(i) + 1 for i in np.flatnonzero(change > threshold)]
    min_frames = max(1, round(min_shot * fps))
    kept = []
    i = 0
    while i < len(candidates):
        first = candidates[i]
        if i + 1 < len(candidates) and candidates[i + 1] - first < min_frames:
            # A burst that comes back to the picture before it is a flash, not two cuts.
            back = np.abs(signatures[candidates[i + 1]] - signatures[first - 1]).mean()
            if back <= threshold:
                i += 2
                continue
        kept.append(first)
        i += 1
    cuts: list[int] = []
    for frame in kept:
        if frame - (cuts[-1] if cuts else 0) >= min_frames and len(signatures) - frame >= min_frames:
            cuts.append(frame)
    duration = len(signatures) / fps
    return Shots([round(c / fps, 3) for c in cuts], round(duration, 3))


def _signatures(path: str | os.PathLike, threads: int) -> tuple[np.ndarray, float]:
    """Every frame as a tiny float32 picture (Y, U, V blocks, or RGB), and the frame rate."""
    with open_video(path) as container:
        info = StreamInfo.of(container)
        context = info.stream.codec_context
        context.thread_type = "AUTO"
        context.thread_count = threads
        small = [_signature(frame) for frame in container.decode(info.stream)]
    if not small:
        raise VideoError("no frame could be decoded")
    fps = info.fps or (len(small) / info.duration if info.duration else 25.0)
    return np.stack(small), float(fps)


def _signature(frame: av.VideoFrame) -> np.ndarray:
    """A frame reduced to about 32 x 18 blocks of 3 channels.

    For 8-bit 4:2:0 frames (nearly every video) the planes are averaged in blocks as they
    come out of the decoder, which costs a third of converting to RGB first.
    """
    width, height = _SIGNATURE_SIZE
    if frame.format.name in ("yuv420p", "yuvj420p") and frame.width >= 2 * width and frame.height >= 2 * height:
        h, w = frame.height, frame.width
        planes = frame.to_ndarray()  # [h * 3 / 2, w]: Y, then U and V at half size
        luma = planes[:h:2, ::2]  # every other pixel: enough for block means, four times less work
        chroma = planes[h:].reshape(2, h // 2, w // 2)
        step = max(1, w // width // 2)
        y = _blocks(luma, step)
        u, v = _blocks(chroma[0], step), _blocks(chroma[1], step)
        rows, cols = min(y.shape[0], u.shape[0]), min(y.shape[1], u.shape[1])
        return np.stack([y[:rows, :cols], u[:rows, :cols], v[:rows, :cols]], axis=-1)
    return frame.reformat(width=width, height=height, format="rgb24").to_ndarray().astype(np.float32)


def _blocks(plane: np.ndarray, step: int) -> np.ndarray:
    rows, cols = plane.shape[0] // step, plane.shape[1] // step
    sums = plane[: rows * step, : cols * step].reshape(rows, step, cols, step).sum(axis=(1, 3), dtype=np.uint32)
    return sums.astype(np.float32) / (step * step)
