"""HTTP byte ranges (RFC 9110 §14): what a browser asks for to seek in a video.

One range is served as asked (206); a request with none, a malformed one or several
ranges gets the whole file (200), which the RFC allows; a range that starts past the end
is unsatisfiable (416).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

CHUNK = 1 << 16
_ONE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class Unsatisfiable(Exception):
    """The range starts at or past the end of the file."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) of a one-range ``Range`` header, or None for the whole file."""
    if not header:
        return None
    match = _ONE_RANGE.fullmatch(header.strip())
    if match is None:  # several ranges, another unit, or malformed
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # "bytes=-N": the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(size - suffix, 0), size
    start = int(first)
    end = size if not last else int(last) + 1
    if last and end <= start:
        return None
    if start >= size:
        raise Unsatisfiable
    return start, min(end, size)


def read_span(file: BinaryIO, start: int, end: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """The bytes ``[start, end)`` of ``file`` in chunks; the file is closed at the end (or when dropped)."""
    try:
        file.seek(start)
        left = end - start
        while left > 0:
            data = file.read(min(chunk, left))
            if not data:  # the file shrank while being sent
                return
            left -= len(data)
            yield data
    finally:
        file.close()
