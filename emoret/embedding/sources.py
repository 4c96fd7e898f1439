"""What gets embedded: video items read from files (decoded on the fly) or a frame store.

``shard=(i, n)`` embeds the i-th of n contiguous blocks of the items, so the
shards' outputs, concatenated in shard order, equal one unsharded run.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from emoret.video.container import VideoError
from emoret.video.decode import extract
from emoret.video.frames import check_frames, load_frames, read_manifest
from emoret.video.paths import find_videos
from emoret.video.sampling import DEFAULT_RULE, Sampling


def parse_shard(spec: str | None) -> tuple[int, int]:
    """``"I/N"`` (0-based I) → (I, N); ValueError when malformed."""
    if not spec:
        return 0, 1
    try:
        index, count = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ValueError(f"--shard takes I/N, e.g. 0/4, not {spec!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {spec}: need 0 <= I < N")
    return index, count


def shard_bounds(total: int, shard: tuple[int, int]) -> tuple[int, int]:
    """[start, stop) of shard i of n contiguous, near-equal blocks."""
    index, count = shard
    return total * index // count, total * (index + 1) // count


# --- videos ------------------------------------------------------------------------


Rows = list[tuple[dict[str, Any], np.ndarray]]


@dataclass
class VideoItem:
    """A video, or one moment of one, to embed: its record, and how to get its rows.

    ``load`` returns one ``(record, frames)`` pair a vector (frames uint8 [T, H, W, 3]):
    one for a video, or one a moment when a file is decoded in moments.
    """

    record: dict[str, Any]
    load: Callable[[], Rows]


def items_from_frames(frames_dir: str | os.PathLike) -> tuple[list[VideoItem], list[dict[str, Any]]]:
    """Items of a frame store (one a moment where it holds moments), and the records with an ``error``."""
    from emoret.video.moments import moment_record

    items, failed = [], []
    for record in read_manifest(frames_dir):
        if record.get("error"):
            failed.append(record)
            continue
        video_id = str(record["video_id"])
        check_frames(frames_dir, video_id, record)  # all refused before any is embedded
        stored = record
        record = dict(record)
        source = record.get("source")
        if "path" not in record and source and Path(source).exists():
            # The manifest's source is relative to where extract-frames ran; a search runs anywhere.
            record["path"] = str(Path(source).resolve())
        moments = record.pop("moments", None)
        if moments is None:
            items.append(VideoItem(record, functools.partial(_stored_rows, frames_dir, video_id, record, None, stored)))
            continue
        for moment in moments:
            whole = moment_record(record, moment["start"], moment["end"])
            rows = (int(moment["rows"][0]), int(moment["rows"][1]))
            items.append(VideoItem(whole, functools.partial(_stored_rows, frames_dir, video_id, whole, rows, stored)))
    return items, failed


def _stored_rows(frames_dir: str | os.PathLike, video_id: str, record: dict[str, Any],
                 rows: tuple[int, int] | None, stored: dict[str, Any]) -> Rows:
    """The one (record, frames) pair of a stored video, or of one moment's rows of it,
    checked against the manifest record ``stored`` as it is read."""
    return [(record, load_frames(frames_dir, video_id, rows, record=stored))]


def items_from_files(paths: Iterable[str | os.PathLike], num_frames: int, size: int, rule: str = DEFAULT_RULE,
                     segment: float | None = None, overlap: float = 0.0, scenes: bool = False) -> list[VideoItem]:
    """Items decoded on the fly from video files and directories, frames chosen by ``rule``
    (in moments with ``segment`` or ``scenes``: ``rule`` within each moment)."""

    sampling = Sampling(num_frames=num_frames, size=size, rule=rule, segment=segment, overlap=overlap, scenes=scenes)
    items = []
    for path in find_videos(paths):
        try:
            record = file_record(path)
        except OSError as err:  # a dangling link, or gone since the listing
            record = {"video_id": path.stem, "video": path.name, "path": str(path.absolute())}
            items.append(VideoItem(record, functools.partial(_unreadable, err.strerror or str(err))))
            continue
        items.append(VideoItem(record, functools.partial(_decode_file, path, sampling, record)))
    return items


# Loads are partials of module-level functions, so an item can be sent to a decode worker.
def _unreadable(reason: str) -> Rows:
    raise VideoError(f"cannot read the file ({reason})")


def file_record(path: Path) -> dict[str, Any]:
    """``video_id``, ``video``, ``path`` and the file's size and mtime (to spot changes)."""
    stat = path.stat()
    return {
        "video_id": path.stem,
        "video": path.name,
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }


def _decode_file(path: Path, sampling: Sampling, record: dict[str, Any]) -> Rows:
    from emoret.video.moments import moment_record

    extracted = extract(path, sampling)
    if extracted.duration is not None:
        record["duration"] = round(float(extracted.duration), 3)
    if extracted.moments is None:
        return [(record, extracted.frames)]
    return [(moment_record(record, a, b), extracted.frames[r0:r1]) for a, b, r0, r1 in extracted.moments]


@dataclass
class VideoFailure:
    record: dict[str, Any]
    reason: str
