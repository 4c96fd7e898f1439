"""A JPEG of one frame of a video at a time: the picture on a search card.

Decoded with PyAV from the already opened (and confined, see library.py) file, scaled to
a fixed width, and kept in a small cache keyed by the file's identity and the time.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:  # PyAV loads with the first thumbnail
    import av

WIDTH = 320
CACHE_SIZE = 512


class Thumbnails:
    """Thumbnails made on demand, the latest ``size`` kept."""

    def __init__(self, size: int = CACHE_SIZE, width: int = WIDTH):
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self._width = width

    def get(self, file: BinaryIO, at: float) -> bytes | None:
        """The JPEG of the frame shown at ``at`` seconds (the last one before the end), or None
        where the file has no decodable video. ``file`` is closed."""
        with file:
            info = os.fstat(file.fileno())
            key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, round(at, 1))
            with self._lock:
                if key in self._cache:
                    self._cache.move_to_end(key)
                    return self._cache[key]
            picture = frame_jpeg(file, at, self._width)
        if picture is not None:
            with self._lock:
                self._cache[key] = picture
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        return picture


def frame_jpeg(file: BinaryIO, at: float, width: int = WIDTH) -> bytes | None:
    import av

    try:
        with av.open(file, mode="r") as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            frame = _frame_at(container, stream, at)
            if frame is None:
                return None
            height = max(2, round(frame.height * width / max(frame.width, 1)))
            rgb = frame.to_ndarray(width=width, height=height - height % 2, format="rgb24")
    except (av.FFmpegError, OSError, ValueError):
        return None
    return _jpeg(rgb)


def _frame_at(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
              at: float) -> av.VideoFrame | None:
    """The first frame at or after ``at`` (the last frame when ``at`` is past the end)."""
    if at > 0 and stream.time_base:
        container.seek(int(at / stream.time_base), stream=stream, backward=True, any_frame=False)
    last = None
    for frame in container.decode(stream):
        last = frame
        if frame.time is None or frame.time >= at - 1e-3:
            return frame
    return last


def _jpeg(rgb: np.ndarray) -> bytes:
    from emoret.report.gallery import jpeg

    return jpeg(rgb)
