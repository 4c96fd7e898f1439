"""Re-encoding a video at a frame rate and short side, with PyAV (the seed's compression step).

The output is H.264 in MP4, video only, at ``fps`` (the source's rate when None) with
its short side ``size`` (even dimensions, as yuv420p needs). Frame rate changes drop or
repeat frames by time, as ``ffmpeg -r`` does; frames that are dropped are never converted.
"""

from __future__ import annotations

import os
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:  # PyAV loads FFmpeg's libraries: imported where a video is opened
    import av
    import av.container

from emoret.atomic import atomic_path
from emoret.video.container import StreamInfo, VideoError, count_packets, open_video
from emoret.video.sampling import resample_indices, scaled_size


def reencode_video(source: str | os.PathLike, target: str | os.PathLike, fps: float | None = None,
                   size: int = 224, threads: int = 0, crf: int = 23, preset: str = "veryfast") -> Path:
    """Write ``source`` re-encoded to ``target`` atomically; :class:`VideoError` if unreadable."""
    import av

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open_video(source) as container:
        info = StreamInfo.of(container)
        n_frames = info.frames or count_packets(container, info)
        out_fps = fps or info.fps or 25.0
        ticks = info.ticks_per_frame
        if n_frames < 1 or ticks is None:
            raise VideoError("no video frames with timestamps to re-encode")
        repeats = Counter(resample_indices(n_frames, info.fps or out_fps, out_fps))
        width, height = (_even(v) for v in scaled_size(info.width, info.height, size, "crop"))
        with atomic_path(target) as tmp, av.open(tmp, mode="w", format="mp4") as output:
            writer = _Writer(output, Fraction(out_fps).limit_denominator(1001), width, height, crf, preset)
            for frame, count in _kept_frames(container, info, repeats, ticks, threads):
                writer.write(frame, count)
            writer.finish()
    return target


def _kept_frames(container: av.container.InputContainer, info: StreamInfo, repeats: Counter[int], ticks: float,
                 threads: int) -> Iterator[tuple[av.VideoFrame, int]]:
    """The frames the new rate shows, each with how many times it shows it.

    Where the codec allows, frames it drops are not even decoded."""
    import av

    decoder = info.stream.codec_context
    decoder.thread_type = "AUTO"
    decoder.thread_count = threads
    for packet in container.demux(info.stream):
        index = _index(packet.pts, info.start, ticks)
        decoder.skip_frame = "DEFAULT" if index is None or index in repeats else "NONREF"
        try:
            frames = decoder.decode(packet)
        except av.error.FFmpegError:
            continue  # a corrupt packet: the frames around it still go out
        for frame in frames:
            index = _index(frame.pts, info.start, ticks)
            count = repeats[index] if index is not None else 0
            if count:
                yield frame, count


class _Writer:
    """An H.264 stream that takes each kept frame as many times as the new rate shows it."""

    def __init__(self, output: av.container.OutputContainer, rate: Fraction, width: int, height: int,
                 crf: int, preset: str) -> None:
        self.output = output
        self.rate = rate
        self.size = width, height
        self.stream = add_h264_stream(output, rate)
        if self.stream.codec_context.name == "libx264":
            self.stream.codec_context.options = {"crf": str(crf), "preset": preset}
        self.rotated: int | None = None  # quarter turns, from the first frame's display matrix
        self.written = 0

    def write(self, frame: av.VideoFrame, count: int) -> None:
        width, height = self.size
        if self.rotated is None:
            self.rotated = round((frame.rotation or 0) / 90) % 4
            self.stream.width, self.stream.height = (height, width) if self.rotated % 2 else (width, height)
        picture = _resized(frame, width, height, self.rotated)
        for _ in range(count):
            picture.pts = self.written
            picture.time_base = 1 / self.rate
            self.written += 1
            self._mux(picture)

    def finish(self) -> None:
        if not self.written:
            raise VideoError("no frame could be decoded")
        self._mux(None)

    def _mux(self, picture: av.VideoFrame | None) -> None:
        for packet in self.stream.encode(picture):
            self.output.mux(packet)


def _index(pts: int | None, start: int, ticks_per_frame: float) -> int | None:
    """The frame number of a timestamp (None for none)."""
    if pts is None:
        return None
    return round((pts - start) / ticks_per_frame)


def _even(value: int) -> int:
    return max(2, value - value % 2)


def _resized(frame: av.VideoFrame, width: int, height: int, quarters: int) -> av.VideoFrame:
    import av

    picture = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
    if not quarters:
        return picture
    array = np.ascontiguousarray(np.rot90(picture.to_ndarray(format="rgb24"), quarters), dtype=np.uint8)
    return av.VideoFrame.from_ndarray(array, format="rgb24").reformat(format="yuv420p")


def h264_encoder() -> str:
    """The H.264 encoder this PyAV build has (MPEG-4 Part 2 when it has none)."""
    import av

    for name in ("libx264", "h264", "libopenh264"):
        if name in av.codecs_available:
            return name
    return "mpeg4"


def add_h264_stream(container: av.container.OutputContainer, rate: Fraction | int) -> av.VideoStream:
    """A new H.264 (or the fallback) video stream in ``container``, pixel format yuv420p."""
    import av

    stream = container.add_stream(h264_encoder(), rate=rate)
    if not isinstance(stream, av.VideoStream):  # a video codec always gives one; this says so to mypy
        raise TypeError(f"{stream.codec_context.name} did not open a video stream")
    stream.pix_fmt = "yuv420p"
    return stream
