"""Streaming, order-preserving annotation of caption records, in parallel.

Records are read in the parent, captions are sent in chunks to worker processes
(which hold the VADER analyzer and NRC lexicon), and results come back in input
order. At most a few chunks are in flight, so memory stays flat on any input. An
input error stops reading, but every record before it is still annotated and
yielded before the error is raised.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from multiprocessing.pool import AsyncResult
from typing import Any, Iterable, Iterator

from emoret.errors import InputError
from emoret.records import iter_numbered, require_caption, require_video_id, source_name
from emoret.text import emotions

CHUNK_SIZE = 256
_MIN_FOR_WORKERS = 2 * CHUNK_SIZE  # below this, starting processes costs more than it saves

_Chunk = tuple[list[dict[str, Any]], list[str]]  # records, and their captions
_Annotations = list[tuple[dict[str, float], dict[str, int]]]  # (scores, counts) of each caption


def _warm() -> None:
    emotions.vader()
    emotions.nrc_lexicon()
    emotions.words("warm up.")


class _Chunks:
    """Cuts numbered records into chunks, holding back an input error until the end."""

    def __init__(self, numbered: Iterable[tuple[int, dict[str, Any]]], source: str, size: int):
        self._numbered = numbered
        self._source = source
        self._size = size
        self.error: InputError | None = None

    def __iter__(self) -> Iterator[_Chunk]:
        records: list[dict[str, Any]] = []
        captions: list[str] = []
        try:
            for line, record in self._numbered:
                captions.append(require_caption(record, self._source, line))
                records.append(record)
                if len(records) == self._size:
                    yield records, captions
                    records, captions = [], []
        except InputError as err:
            self.error = err
        if records:
            yield records, captions


def annotate_records(
    numbered: Iterable[tuple[int, dict[str, Any]]], source: str = "<input>", workers: int = 1, lowercase: bool = False
) -> Iterator[dict[str, Any]]:
    """Annotate ``(line, record)`` pairs, yielding annotated records in input order.

    ``lowercase``: NRC words looked up lowercased (default: as written, the seed's rule).
    """
    chunks = _Chunks(numbered, source, CHUNK_SIZE)
    iterator = iter(chunks)
    _warm()  # before forking, so every worker inherits the loaded lexicons
    if workers <= 1:
        for records, captions in iterator:
            yield from _merge(records, emotions.annotate_many(captions, lowercase))
    else:
        yield from _annotate_parallel(iterator, workers, lowercase)
    if chunks.error is not None:
        raise chunks.error


def _annotate_parallel(chunks: Iterator[_Chunk], workers: int, lowercase: bool) -> Iterator[dict[str, Any]]:
    # Small inputs are done in-process: a pool would cost more than it saves.
    head: list[_Chunk] = []
    for chunk in chunks:
        head.append(chunk)
        if sum(len(c[0]) for c in head) >= _MIN_FOR_WORKERS:
            break
    else:
        for records, captions in head:
            yield from _merge(records, emotions.annotate_many(captions, lowercase))
        return

    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_leave_interrupts_to_the_parent) as pool:
        pending: deque[tuple[list[dict[str, Any]], AsyncResult[_Annotations]]] = deque()
        limit = 2 * workers

        def submit(chunk: _Chunk) -> None:
            records, captions = chunk
            pending.append((records, pool.apply_async(emotions.annotate_many, (captions, lowercase))))

        for chunk in head:
            submit(chunk)
        for chunk in chunks:
            while len(pending) >= limit:
                records, result = pending.popleft()
                yield from _merge(records, result.get())
            submit(chunk)
        while pending:
            records, result = pending.popleft()
            yield from _merge(records, result.get())


def _leave_interrupts_to_the_parent() -> None:
    """Ctrl-C reaches the whole process group: the parent reports it and stops the pool.

    A worker that also took it would print its own ``Process ForkPoolWorker-N:`` traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _merge(records: list[dict[str, Any]], results: _Annotations) -> Iterator[dict[str, Any]]:
    for record, (scores, counts) in zip(records, results, strict=True):
        yield emotions.merge_annotation(record, scores, counts)


def merge_by_video(
    numbered: Iterable[tuple[int, dict[str, Any]]], source: str = "<input>"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """One record a video, its captions joined with ". " (as the seed built its training set).

    The first record of a video gives the other fields; ``n_captions`` counts the merged ones.
    Videos keep the order of their first caption.
    """
    merged: dict[str, tuple[int, dict[str, Any], list[str]]] = {}
    for line, record in numbered:
        caption = require_caption(record, source, line)
        video_id = require_video_id(record, source, line)
        if video_id not in merged:
            first = {k: v for k, v in record.items() if k not in ("caption", "sen_id")}
            first.setdefault("video_id", video_id)
            merged[video_id] = (line, first, [])
        merged[video_id][2].append(caption)
    for line, first, captions in merged.values():
        record = dict(first)
        record["caption"] = ". ".join(captions)
        record["n_captions"] = len(captions)
        yield line, record


def annotate_path(
    path: str | None, workers: int = 1, by_video: bool = False, lowercase: bool = False
) -> Iterator[dict[str, Any]]:
    """Annotate the records of a JSON / JSON-lines file (``-`` or None: stdin)."""
    source = source_name(path)
    numbered = iter_numbered(path)
    if by_video:
        numbered = merge_by_video(numbered, source)
    return annotate_records(numbered, source, workers, lowercase)
