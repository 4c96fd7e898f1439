"""Decoding videos with PyAV into sampled, resized RGB frames.

Speed comes from doing only the work the kept frames need: the decoder runs on
threads, frames nobody asked for are not converted (and, where the codec allows,
non-reference ones are not even decoded), and where the container's index shows a
keyframe between here and the next wanted frame, the reader seeks to it instead of
decoding the gap. Every way a file can fail becomes a one-line :class:`VideoError`.

Opening a file is :mod:`emoret.video.container`, which frames to keep
:mod:`emoret.video.sampling`.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from emoret.video.container import StreamInfo, VideoError, count_packets, open_video
from emoret.video.moments import Shots, detect_shots, frame_range, windows
from emoret.video.sampling import DEFAULT_RULE, Sampling, scaled_size

if TYPE_CHECKING:  # PyAV loads FFmpeg's libraries: imported where a video is opened
    import av
    import av.container

# Seek only when it skips at least this many frames: a seek flushes the decoder's threads.
_SEEK_MIN_SAVING = 24
# Keyframes this close before a wanted frame are not trusted to decode it: their
# presentation time may lie after their decoding time (B-frame delay).
_SEEK_SAFETY_FRAMES = 8


@dataclass
class Extracted:
    """Frames kept from one video, and what was learnt about the video on the way."""

    frames: np.ndarray  # uint8 [T, S, S, 3]
    indices: list[int]  # source frame of each kept frame
    source_frames: int
    fps: float | None
    duration: float | None
    width: int
    height: int
    warnings: list[str] = field(default_factory=list)
    seeks: int = 0  # how often the reader jumped ahead instead of decoding on
    # With moments: each one's (start, end) seconds and its rows [a, b) of ``frames``.
    moments: list[tuple[float, float, int, int]] | None = None


def decode_video(path: str | os.PathLike, num_frames: int = 12, size: int = 224, resize: str = "crop",
                 fps: float | None = None, rule: str = DEFAULT_RULE) -> np.ndarray:
    """uint8 ``[T, size, size, 3]`` RGB frames of a video; :class:`VideoError` if unreadable."""
    return extract(path, Sampling(num_frames=num_frames, fps=fps, size=size, resize=resize, rule=rule)).frames


def extract(path: str | os.PathLike, sampling: Sampling, threads: int = 0,
            span: tuple[float, float] | None = None) -> Extracted:
    """Decode the frames ``sampling`` asks for. ``threads``: decoder threads (0: automatic).

    ``span``: only the seconds ``[start, end)``, sampled as one moment.
    """
    shots = None
    if sampling.scenes and span is None:
        shots = detect_shots(path, threads=threads)
    with open_video(path) as container:
        info = StreamInfo.of(container)
        n_frames = info.frames or count_packets(container, info)
        if n_frames < 1:
            raise VideoError("no video frames")
        spans = [span] if span is not None else _moment_spans(sampling, n_frames, info.fps, shots)
        wanted, rows = _wanted(sampling, n_frames, info.fps, spans)
        reader = _Reader(container, info, sampling, threads)
        frames, last_index = reader.collect(wanted)
    warnings = []
    if len(frames) < len(set(wanted)):
        if last_index < 0:
            raise VideoError(_no_frames_message(reader.decode_errors))
        # The header promised more frames than the stream holds: sample what is there.
        found = last_index + 1
        warnings.append(f"the header promised {n_frames} frames but {found} could be decoded")
        n_frames = found
        spans = [span] if span is not None else _moment_spans(sampling, n_frames, info.fps, shots)
        wanted, rows = _wanted(sampling, n_frames, info.fps, spans)
        with open_video(path) as container:
            reader = _Reader(container, StreamInfo.of(container), sampling, threads)
            frames, _ = reader.collect(wanted)
        if not frames:
            raise VideoError(_no_frames_message(reader.decode_errors))
        frames = _fill_gaps(frames, wanted)
    if sampling.fps is None and not sampling.moments and n_frames < (sampling.num_frames or 0):
        warnings.append(f"only {n_frames} frames, fewer than the {sampling.num_frames} asked: frames repeated")
    if reader.decode_errors:
        warnings.append(f"{reader.decode_errors} packets could not be decoded")
    stacked = np.stack([frames[i] for i in wanted])
    return Extracted(
        frames=stacked,
        indices=wanted,
        source_frames=n_frames,
        fps=info.fps,
        duration=info.duration if info.duration is not None else (n_frames / info.fps if info.fps else None),
        width=info.height if reader.rotation % 2 else info.width,
        height=info.width if reader.rotation % 2 else info.height,
        warnings=warnings,
        seeks=reader.seeks,
        moments=None if spans is None else [(a, b, r0, r1) for (a, b), (r0, r1) in zip(spans, rows, strict=False)],
    )


def _moment_spans(sampling: Sampling, n_frames: int, fps: float | None, shots: Shots | None) -> list[tuple[float, float]] | None:
    """The moments' (start, end) seconds, or None for a whole-video sampling."""
    if not sampling.moments:
        return None
    duration = n_frames / (fps or 1.0)
    if shots is None:
        return windows(duration, sampling.segment or duration, sampling.overlap)
    spans = [(a, min(b, duration)) for a, b in shots.spans() if a < duration] or [(0.0, duration)]
    if sampling.segment is None:
        return spans
    return [w for a, b in spans for w in windows(b - a, sampling.segment, sampling.overlap, start=a)]


def _wanted(sampling: Sampling, n_frames: int, fps: float | None,
            spans: list[tuple[float, float]] | None) -> tuple[list[int], list[tuple[int, int]]]:
    """Source frames to keep, in output order, and each moment's rows of them."""
    if spans is None:
        return sampling.indices(n_frames, fps), []
    wanted: list[int] = []
    rows = []
    for span in spans:
        first, stop = frame_range(span, fps or 1.0, n_frames)
        picked = [first + i for i in sampling.indices(stop - first, fps)]
        rows.append((len(wanted), len(wanted) + len(picked)))
        wanted += picked
    return wanted, rows


def _no_frames_message(decode_errors: int) -> str:
    if decode_errors:
        return f"no frame could be decoded ({decode_errors} corrupt packets)"
    return "no frame could be decoded"


def _fill_gaps(frames: dict[int, np.ndarray], wanted: list[int]) -> dict[int, np.ndarray]:
    """A wanted frame still missing takes the nearest earlier one (else the first)."""
    known = sorted(frames)
    for index in wanted:
        if index not in frames:
            position = bisect.bisect_right(known, index)
            frames[index] = frames[known[max(0, position - 1)]]
    return frames


class _Reader:
    """Decodes one stream, keeping only the wanted frames (converted on the spot)."""

    def __init__(self, container: av.container.InputContainer, info: StreamInfo, sampling: Sampling,
                 threads: int) -> None:
        self.container = container
        self.info = info
        self.sampling = sampling
        self.decode_errors = 0
        self.seeks = 0
        self.rotation = 0  # quarter turns counter-clockwise, from the display matrix
        context = info.stream.codec_context
        context.thread_type = "AUTO"
        context.thread_count = threads
        self.context = context

    def index_of(self, pts: int) -> int:
        if self.info.ticks_per_frame is None:
            return -1
        return round((pts - self.info.start) / self.info.ticks_per_frame)

    def collect(self, wanted: list[int]) -> tuple[dict[int, np.ndarray], int]:
        """The wanted frames by index, and the index of the last frame decoded (-1: none)."""
        import av

        targets = sorted(set(wanted))
        remaining = set(targets)
        keyframes = self._keyframes() if self._worth_seeking(targets) else []
        kept: dict[int, np.ndarray] = {}
        position = -1  # index of the last frame out of the decoder
        submitted = -1  # highest index handed to the decoder
        next_target = 0
        packets = self.container.demux(self.info.stream)
        while next_target < len(targets):
            seek_to = self._seek_target(keyframes, targets[next_target], submitted)
            if seek_to is not None:
                keyframe_index, timestamp = seek_to
                self.container.seek(timestamp, stream=self.info.stream, backward=True)
                packets = self.container.demux(self.info.stream)
                submitted = position = keyframe_index - 1
                self.seeks += 1
            packet = next(packets, None)
            if packet is None:
                break
            if packet.pts is not None and self.info.ticks_per_frame is not None:
                index = self.index_of(packet.pts)
                submitted = max(submitted, index)
                # Decode everything wanted; elsewhere let the codec drop non-reference frames.
                self.context.skip_frame = "DEFAULT" if index in remaining else "NONREF"
            else:
                self.context.skip_frame = "DEFAULT"
            try:
                decoded = self.context.decode(packet)
            except av.error.FFmpegError:
                self.decode_errors += 1
                continue
            for frame in decoded:
                index = self.index_of(frame.pts) if frame.pts is not None else position + 1
                if index < 0 and self.info.ticks_per_frame is None:
                    index = position + 1
                position = index
                array = None
                while next_target < len(targets) and targets[next_target] <= index:
                    if array is None:
                        array = self._convert(frame)
                    kept[targets[next_target]] = array
                    remaining.discard(targets[next_target])
                    next_target += 1
        return kept, position

    def _worth_seeking(self, targets: list[int]) -> bool:
        if len(targets) < 1 or self.info.ticks_per_frame is None:
            return False
        gaps = [b - a for a, b in zip([0] + targets, targets, strict=False)]
        return max(gaps) > _SEEK_MIN_SAVING + _SEEK_SAFETY_FRAMES

    def _keyframes(self) -> list[tuple[int, int]]:
        """``(index, timestamp)`` of keyframes from the container's index (may be empty)."""
        try:
            entries = self.info.stream.index_entries
        except (AttributeError, NotImplementedError):
            return []
        return [(self.index_of(entry.timestamp), entry.timestamp) for entry in entries if entry.flags & 1]

    def _seek_target(self, keyframes: list[tuple[int, int]], target: int, submitted: int) -> tuple[int, int] | None:
        """The keyframe ``(index, timestamp)`` to seek to before decoding ``target``, or None."""
        if not keyframes:
            return None
        safe = target - _SEEK_SAFETY_FRAMES
        position = bisect.bisect_right(keyframes, (safe, float("inf"))) - 1
        if position < 0:
            return None
        index, timestamp = keyframes[position]
        return (index, timestamp) if index - submitted >= _SEEK_MIN_SAVING else None

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = scaled_size(frame.width, frame.height, self.sampling.size, self.sampling.resize)
        rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="BICUBIC").to_ndarray()
        size = self.sampling.size
        top, left = (height - size) // 2, (width - size) // 2
        array = rgb[top : top + size, left : left + size]
        quarters = round((frame.rotation or 0) / 90) % 4
        self.rotation = quarters
        if quarters:
            array = np.rot90(array, quarters)
        return np.ascontiguousarray(array)
