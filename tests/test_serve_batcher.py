"""`emoret serve` answers the searches that arrive together in one library call: the batches,
their grouping, one query's fault kept to itself, and answers that do not depend on the batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pytest
from serve_data import QUERY, build_index, get, make_library, serving

import emoret
from emoret.index import exact
from emoret.serve.batcher import MAX_BATCH, QueryBatcher, search_loaded

QUERIES = [QUERY, "a sad man in the rain", "children laughing at a party", "a storm over the sea",
           "an angry crowd shouting", "a quiet trusting friendship", "fear in the dark", "a cat sleeps"]


class Recorder:
    """A search that records each call and, until ``release`` is set, holds the first one."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, list[str], emoret.SearchOptions]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, loaded, queries, options):
        self.calls.append((loaded, list(queries), options))
        self.entered.set()
        assert self.release.wait(10)
        if "bad" in queries:
            raise ValueError("a bad query")
        return [emoret.Answer(query, [], []) for query in queries]


@contextmanager
def held_first(max_batch: int = MAX_BATCH) -> Iterator[tuple[Recorder, QueryBatcher, Future]]:
    """A batcher over a Recorder, its first request ("first") taken and held: whatever the block
    submits waits behind it until ``release`` is set. The batcher is closed after the block."""
    search = Recorder()
    batcher = QueryBatcher(search, max_batch=max_batch)
    first = batcher.submit("v1", "first", emoret.SearchOptions())
    assert search.entered.wait(5)
    try:
        yield search, batcher, first
    finally:
        search.release.set()
        batcher.close()


def test_requests_that_wait_behind_a_batch_are_answered_as_one():
    with held_first() as (search, batcher, first):
        waiting = [batcher.submit("v1", f"q{n}", emoret.SearchOptions()) for n in range(5)]
        search.release.set()
        assert first.result(5).query == "first"
        assert [future.result(5).query for future in waiting] == [f"q{n}" for n in range(5)]
    assert [queries for _, queries, _ in search.calls] == [["first"], [f"q{n}" for n in range(5)]]
    assert (batcher.batches, batcher.answered) == (2, 6)


def test_a_batch_is_split_by_index_version_and_options():
    with held_first() as (search, batcher, _):
        futures = [batcher.submit("v1", "a", emoret.SearchOptions(top=3)), batcher.submit("v2", "b", emoret.SearchOptions(top=3)),
                   batcher.submit("v1", "c", emoret.SearchOptions(top=3)), batcher.submit("v1", "d", emoret.SearchOptions())]
        search.release.set()
        assert [future.result(5).query for future in futures] == ["a", "b", "c", "d"]
    assert [(loaded, queries, options.top) for loaded, queries, options in search.calls[1:]] == [
        ("v1", ["a", "c"], 3), ("v2", ["b"], 3), ("v1", ["d"], 10)]


def test_one_querys_fault_is_its_own():
    with held_first() as (search, batcher, _):
        futures = [batcher.submit("v1", query, emoret.SearchOptions()) for query in ("good", "bad", "fine")]
        search.release.set()
        assert futures[0].result(5).query == "good" and futures[2].result(5).query == "fine"
        with pytest.raises(ValueError, match="a bad query"):
            futures[1].result(5)


def test_options_that_cannot_be_hashed_are_answered_on_their_own():
    listed = emoret.SearchOptions(emotions=[1, 0, 0, 0, 0, 0, 0, 0])
    with held_first() as (search, batcher, _):
        futures = [batcher.submit("v1", "a", listed), batcher.submit("v1", "b", listed)]
        search.release.set()
        assert [future.result(5).query for future in futures] == ["a", "b"]
    assert [queries for _, queries, _ in search.calls[1:]] == [["a"], ["b"]]


def test_the_worker_outlives_a_batch_that_breaks():
    calls = []

    def broken(loaded, queries, options):
        calls.append(list(queries))
        if len(calls) == 1:
            raise KeyboardInterrupt  # not an Exception: past the per-group fallback
        return [emoret.Answer(query, [], []) for query in queries]

    batcher = QueryBatcher(broken)
    with pytest.raises(KeyboardInterrupt):
        batcher.submit("v1", "first", emoret.SearchOptions()).result(5)
    assert batcher.submit("v1", "second", emoret.SearchOptions()).result(5).query == "second"
    batcher.close()


def test_batches_are_bounded():
    with held_first(max_batch=3) as (search, batcher, _):
        futures = [batcher.submit("v1", f"q{n}", emoret.SearchOptions()) for n in range(7)]
        search.release.set()
        [future.result(5) for future in futures]
    assert [len(queries) for _, queries, _ in search.calls] == [1, 3, 3, 1]


def test_exact_scores_do_not_depend_on_the_batch():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(5000, 64)).astype(np.float32)
    queries = rng.normal(size=(16, 64)).astype(np.float32)
    rows, scores = exact.top_k(vectors, queries, 10, block_rows=1024)
    for number, query in enumerate(queries):
        alone_rows, alone_scores = exact.top_k(vectors, query, 10, block_rows=1024)
        assert np.array_equal(alone_rows[0], rows[number])
        assert np.array_equal(alone_scores[0], scores[number])  # bit for bit
    truth = np.argsort(-(vectors.astype(np.float64) @ queries.T.astype(np.float64)), axis=0)[:10].T
    assert np.array_equal(rows, truth)


@pytest.fixture(scope="module")
def index(env, tmp_path_factory):
    library = make_library(tmp_path_factory.mktemp("batch") / "library")
    return build_index(env, library, tmp_path_factory.mktemp("batch-index") / "index", best=2, tag="A")


def test_concurrent_requests_get_what_each_alone_gets(index):
    """The first request is held until the others wait behind it: they are answered as one batch."""
    gate = threading.Event()
    sizes: list[int] = []

    def held(loaded, queries, options):
        sizes.append(len(queries))
        assert gate.wait(30)
        return search_loaded(loaded, queries, options)

    batcher = QueryBatcher(held)
    with serving(index, batcher=batcher) as served:
        def ask(query: str) -> bytes:
            reply = get(f"{served.url}/api/search?q={query.replace(' ', '+')}&top=4&per_video=0")
            assert reply.status == 200, reply.body
            return reply.body

        gate.set()
        alone = [ask(query) for query in QUERIES]
        assert sizes == [1] * len(QUERIES)
        gate.clear()
        with ThreadPoolExecutor(len(QUERIES)) as pool:
            together = pool.map(ask, QUERIES)
            deadline = time.monotonic() + 30
            while sum(sizes[len(QUERIES):]) + batcher.waiting() < len(QUERIES) and time.monotonic() < deadline:
                time.sleep(0.01)
            gate.set()
            assert list(together) == alone
    batches = sizes[len(QUERIES):]  # the held first batch, then those that waited behind it
    assert sum(batches) == len(QUERIES) and max(batches) >= len(QUERIES) // 2, batches
    assert all(len(body.splitlines()) == 4 for body in alone)
