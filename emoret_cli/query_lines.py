"""Queries read from stdin, one a line, in batches as they arrive."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator

# Lines that arrive together are embedded as one batch (piped queries: throughput);
# a line typed alone is answered at once (interactive use).
MAX_BATCH = 64


def stdin_batches() -> Iterator[list[str]]:
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (tests)
        yield from _batches(line.strip() for line in sys.stdin)
        return
    yield from _batches_from_fd(fd)


def _batches(lines: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in lines:
        if text:
            batch.append(text)
        if len(batch) == MAX_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _batches_from_fd(fd: int) -> Iterator[list[str]]:
    pending = b""
    while True:
        chunk = os.read(fd, 1 << 16)  # blocks only until something arrives
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        texts = [line.decode("utf-8", "replace").strip() for line in complete]
        yield from _batches(texts)
    if pending.strip():
        yield [pending.decode("utf-8", "replace").strip()]
