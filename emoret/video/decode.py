"""Decoding videos with PyAV into sampled, resized RGB frames.

Speed comes from doing only the work the kept frames need: the decoder runs on
threads, frames nobody asked for are not converted (and, where the codec allows,
non-reference ones are not even decoded), and where the container's index shows a
keyframe between here and the next wanted frame, the reader seeks to it instead of
decoding the gap. Every way a file can fail becomes a one-line :class:`VideoError`.

The frame store (``load_frames``, ``read_manifest``) lives in :mod:`emoret.video.frames`
and is re-exported here.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from emoret.errors import InputError, first_line

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .wmv .flv .3gp .ts .mts .ogv".split()
)
RESIZE_MODES = ("crop", "squash")
# How ``num_frames`` frames are spread over a video: ``linspace`` (the seed's and CLIP-ViP's
# at test time: first and last frames included) or ``middle`` (the middles of equal segments).
SAMPLING_RULES = ("linspace", "middle")
DEFAULT_RULE = "linspace"
# Seek only when it skips at least this many frames: a seek flushes the decoder's threads.
_SEEK_MIN_SAVING = 24
# Keyframes this close before a wanted frame are not trusted to decode it: their
# presentation time may lie after their decoding time (B-frame delay).
_SEEK_SAFETY_FRAMES = 8


class VideoError(Exception):
    """A video that cannot be read; the message is one line, without the path."""


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


def find_videos(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, and the video files under directories (recursively, sorted).

    A path that does not exist is an :class:`InputError`. Hidden files and folders
    under a directory are left out (they include our own temporary files).
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(_walk_videos(path))
        elif path.exists() or path.is_symlink():
            candidates = [path]
        else:
            raise InputError(str(path), "no such file or directory")
        for candidate in candidates:
            key = Path(os.path.abspath(candidate))
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def _walk_videos(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS:
                yield Path(dirpath) / name


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
        from emoret.video.moments import detect_shots

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


def _moment_spans(sampling: Sampling, n_frames: int, fps: float | None, shots) -> list[tuple[float, float]] | None:
    """The moments' (start, end) seconds, or None for a whole-video sampling."""
    if not sampling.moments:
        return None
    from emoret.video.moments import windows

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
    from emoret.video.moments import frame_range

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


@contextlib.contextmanager
def open_video(path: str | os.PathLike) -> Iterator[Any]:
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
    def of(cls, container) -> "StreamInfo":
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


def count_packets(container, info: StreamInfo) -> int:
    """Frames in a stream whose header does not say: count its packets (no decoding)."""
    count = sum(1 for packet in container.demux(info.stream) if packet.size)
    container.seek(0)
    return count


class _Reader:
    """Decodes one stream, keeping only the wanted frames (converted on the spot)."""

    def __init__(self, container, info: StreamInfo, sampling: Sampling, threads: int):
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

    def _convert(self, frame) -> np.ndarray:
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
