"""Encoding RGB frames to H.264 MP4 byte-for-byte repeatably, and many videos at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from emoret.atomic import atomic_path
from emoret.devices import available_cpus
from emoret.video.reencode import add_h264_stream
from emoret.video.yuv import rgb_to_yuv420p

# x264 settings that make its output a function of the frames alone. One thread: x264's
# threads split the work by timing. cpu-independent: its SIMD code otherwise takes other
# decisions than its C code, which differ by CPU and even from one encode to the next (on
# an AVX-512 CPU, 8 encodes of the same frames gave 4 outputs); with it, the bytes equal
# those of x264's plain-C path (asm=0), which stands in for any other CPU.
X264_REPEATABLE = "threads=1:lookahead-threads=1:sliced-threads=0:cpu-independent=1"


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: int, *, crf: int = 23,
                preset: str = "veryfast", gop: int | None = None, x264_params: str | None = None) -> Path:
    """Encode RGB frames to an H.264 MP4 with PyAV, atomically (temp file, then rename).

    Byte-for-byte repeatable, on any CPU: frames are converted to YUV in numpy (not by
    swscale, whose rounding depends on the CPU path it takes), and x264 runs one thread,
    CPU-independent (``X264_REPEATABLE``); callers encode several videos at once instead.
    ``x264_params`` are appended (a later setting wins).
    """
    import av

    path = Path(path)
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    with atomic_path(path) as tmp:
        with av.open(tmp, mode="w", format="mp4") as container:
            stream = add_h264_stream(container, fps)
            stream.width, stream.height = width - width % 2, height - height % 2
            stream.codec_context.thread_count = 1
            options = {"threads": "1"}
            if stream.codec_context.name == "libx264":
                params = f"{X264_REPEATABLE}:{x264_params}" if x264_params else X264_REPEATABLE
                options.update({"crf": str(crf), "preset": preset, "x264-params": params})
            if gop:
                stream.codec_context.gop_size = gop
            stream.codec_context.options = options
            for array in _chain(first, frames):
                planes = rgb_to_yuv420p(np.ascontiguousarray(array[: stream.height, : stream.width]))
                frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    return path


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def encode_all(make: Callable[..., Path], jobs: list[tuple], workers: int | None) -> list[Path]:
    """``make(*job)`` for every job, ``workers`` processes at a time (default: one a core)."""
    workers = min(workers or available_cpus(), len(jobs))
    if workers <= 1:
        return [make(*job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.starmap(make, jobs, chunksize=1)
