"""Opening a video file with PyAV: every failure a one-line :class:`VideoError`, and what
the stream's header says (:class:`StreamInfo`)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from emoret.errors import first_line

if TYPE_CHECKING:  # PyAV loads FFmpeg's libraries: imported where a video is opened
    import av.container


class VideoError(Exception):
    """A video that cannot be read; the message is one line, without the path."""


@contextlib.contextmanager
def open_video(path: str | os.PathLike) -> Iterator[av.container.InputContainer]:
    """``av.open`` a file with a video stream; every failure becomes a :class:`VideoError`."""
    import av

    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise VideoError("no such file") from None
    except PermissionError:
        raise VideoError("permission denied") from None
    if path.is_dir():
        raise VideoError("is a directory, not a video file")
    if stat.st_size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        _read_first_byte(path)  # a plain read first: clearer errors than FFmpeg's
        container = av.open(str(path), metadata_errors="ignore")
    except PermissionError:
        raise VideoError("permission denied") from None
    except av.error.InvalidDataError:
        raise VideoError("not a video file, or a truncated or corrupt one") from None
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise VideoError(f"cannot open: {_reason(err)}") from None
    with container:
        if not container.streams.video:
            raise VideoError("no video stream (audio only)" if container.streams.audio else "no video stream")
        yield container


def _read_first_byte(path: Path) -> None:
    with open(path, "rb") as handle:
        handle.read(1)


def _reason(err: BaseException) -> str:
    # An OSError's strerror leaves out the path, which the caller names already.
    strerror = getattr(err, "strerror", None)
    return strerror if strerror else first_line(err)


@dataclass
class StreamInfo:
    stream: Any
    fps: float | None
    duration: float | None
    frames: int  # 0 when the header does not say
    start: int  # first presentation timestamp, in the stream's time base
    ticks_per_frame: float | None  # in the stream's time base
    width: int  # as coded, before any display rotation
    height: int

    @classmethod
    def of(cls, container: av.container.InputContainer) -> StreamInfo:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else None
        time_base = stream.time_base
        duration = None
        if stream.duration and time_base:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        frames = stream.frames or (round(duration * fps) if duration and fps else 0)
        ticks = 1 / (float(time_base) * fps) if (time_base and fps) else None
        width, height = stream.codec_context.width, stream.codec_context.height
        return cls(stream, fps, duration, int(frames), stream.start_time or 0, ticks, width, height)


def count_packets(container: av.container.InputContainer, info: StreamInfo) -> int:
    """Frames in a stream whose header does not say: count its packets (no decoding)."""
    count = sum(1 for packet in container.demux(info.stream) if packet.size)
    container.seek(0)
    return count
