"""What a record must hold to be used: a caption of sentence size, a usable file name, a video id."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from emoret.errors import InputError

# Captions are sentences; a longer "caption" is a mistake (a whole file in one field), and
# NRC and VADER would take minutes and gigabytes over megabytes of text.
MAX_CAPTION_CHARS = 10_000


def require_caption(record: dict[str, Any], source: str, line: int) -> str:
    """The record's caption, or an InputError naming the line."""
    caption = record.get("caption")
    if not isinstance(caption, str):
        what = "no 'caption'" if caption is None else "a 'caption' that is not a string"
        raise InputError(source, f"record has {what}", line)
    if len(caption) > MAX_CAPTION_CHARS:
        raise InputError(source, f"caption of {len(caption):,} characters; the limit is {MAX_CAPTION_CHARS:,}", line)
    return caption


MAX_NAME_BYTES = 255  # a file name's limit on Linux and macOS file systems


def check_file_name(name: str, source: str, line: int, suffix: str = "") -> str:
    """``name`` (with ``suffix``, e.g. ``.npy``) usable as a file name, or an InputError naming the line."""
    if "\0" in name:
        raise InputError(source, f"name {name[:40]!r} contains a NUL byte", line)
    for part in (name + suffix).split("/"):
        size = len(os.fsencode(part))
        if size > MAX_NAME_BYTES:
            raise InputError(source, f"name {part[:40]!r}... is {size} bytes; file names stop at {MAX_NAME_BYTES}", line)
    return name


def video_id_of(record: dict[str, Any]) -> str | None:
    """``video_id``, else the stem of ``video``."""
    vid = record.get("video_id")
    if vid is not None:
        return str(vid)
    video = record.get("video")
    if video is not None:
        return Path(str(video)).stem
    return None


def require_video_id(record: dict[str, Any], source: str, line: int) -> str:
    """The record's video id (:func:`video_id_of`), or an InputError naming the line."""
    video_id = video_id_of(record)
    if video_id is None:
        raise InputError(source, "record has neither 'video_id' nor 'video'", line)
    return video_id
