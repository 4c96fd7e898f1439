"""Searches that arrive together answered by one library call.

At 100,000 items nearly all of a query is arithmetic: the text tower's matrix products and one
pass over the stored vectors. Eight requests answered one by one on eight threads fight for the
cores and read the vectors eight times; answered as one batch, the text tower multiplies taller
matrices (near the machine's GEMM rate) and the vectors are read once for all of them.

One worker thread takes the first waiting request, then every request waiting behind it (up to
``max_batch``), and answers each group that shares an index version and options with one
:func:`emoret.search`. A lone request is answered at once; the requests that arrive during a
batch form the next one, which waits up to 2 ms for as many as the last batch held. A query's hits do not depend on what it
was batched with (:func:`emoret.index.exact.top_k` scores its hits one query at a time).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import emoret

# Requests answered by one call at most: bounds one batch's memory (a [batch, items] score block
# per 65,536 rows) and the wait of the requests behind it.
MAX_BATCH = 32

# The longest a batch waits for the requests expected to join it (see QueryBatcher._more).
LINGER = 0.002

Search = Callable[[Any, Sequence[str], emoret.SearchOptions], list[emoret.Answer]]


@dataclass
class Request:
    """One query waiting for its answer."""

    loaded: Any  # the holder's Loaded: the index version the request was given
    query: str
    options: emoret.SearchOptions
    answer: Future[emoret.Answer] = field(default_factory=Future)

    def group(self) -> tuple[int, object]:
        """What requests answered by one call share: the index version and the options (options
        that cannot be hashed, e.g. emotions given as a list, make a group of their own)."""
        try:
            hash(self.options)
        except TypeError:
            return id(self.loaded), id(self)
        return id(self.loaded), self.options


def search_loaded(loaded: Any, queries: Sequence[str], options: emoret.SearchOptions) -> list[emoret.Answer]:
    """The answers of ``queries`` on the index version ``loaded`` (holder.Loaded.search)."""
    return loaded.search(queries, options)


class QueryBatcher:
    """Hands each :meth:`submit`-ted query to one worker thread that answers them in batches."""

    def __init__(self, search: Search = search_loaded, max_batch: int = MAX_BATCH) -> None:
        self._search = search
        self._max_batch = max_batch
        self._waiting: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="emoret-serve-search", daemon=True)
        self._worker.start()
        self.batches = 0
        self.answered = 0

    def submit(self, loaded: Any, query: str, options: emoret.SearchOptions) -> Future[emoret.Answer]:
        """The future answer of ``query`` on ``loaded`` (its exception where the search refused it)."""
        request = Request(loaded, query, options)
        self._waiting.put(request)
        return request.answer

    def waiting(self) -> int:
        """Requests submitted and not yet taken into a batch (about: others may be taking them)."""
        return self._waiting.qsize()

    def close(self) -> None:
        """Stop the worker after the requests already submitted."""
        self._waiting.put(None)
        self._worker.join()

    def _work(self) -> None:
        last = 1
        while True:
            first = self._waiting.get()
            if first is None:
                return
            batch = [first, *self._more(last - 1)]
            stop = batch[-1] is None
            requests = [request for request in batch if request is not None]
            last = len(requests)
            try:
                self._answer(requests)
            except BaseException as err:  # noqa: BLE001 - the worker must outlive any batch
                for request in requests:
                    if not request.answer.done():
                        request.answer.set_exception(err)
            if stop:
                return

    def _more(self, expected: int) -> list[Request | None]:
        """The requests already waiting, up to a batch (and the stop mark, which ends it); while
        fewer than ``expected`` (as many as joined the last batch), up to LINGER seconds more for
        them: clients answered together ask again together, but their requests reach the
        worker a few hundred microseconds apart. A lone client never waits."""
        more: list[Request | None] = []
        deadline = time.monotonic() + LINGER
        while len(more) < self._max_batch - 1:
            wait = deadline - time.monotonic() if len(more) < expected else 0.0
            try:
                request = self._waiting.get(timeout=wait) if wait > 0 else self._waiting.get_nowait()
            except queue.Empty:
                break
            more.append(request)
            if request is None:
                break
        return more

    def _answer(self, batch: list[Request]) -> None:
        groups: dict[tuple[int, object], list[Request]] = {}
        for request in batch:
            groups.setdefault(request.group(), []).append(request)
        self.batches += 1  # counted first: a caller woken by its answer sees its batch counted
        self.answered += len(batch)
        for requests in groups.values():
            self._answer_group(requests)

    def _answer_group(self, requests: list[Request]) -> None:
        first = requests[0]
        try:
            answers = self._search(first.loaded, [request.query for request in requests], first.options)
        except Exception as err:  # noqa: BLE001 - the request's own fault or the index's: said to each
            if len(requests) == 1:
                first.answer.set_exception(err)
                return
            for request in requests:  # one query's fault is not the others'
                self._answer_group([request])
            return
        for request, answer in zip(requests, answers, strict=True):
            request.answer.set_result(answer)
