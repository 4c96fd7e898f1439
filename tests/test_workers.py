"""Worker pools end, whatever their workers do with SIGTERM."""

from __future__ import annotations

import multiprocessing
import signal
import time

from emoret.workers import stop_pool


def _deaf_to_sigterm() -> None:
    # What a worker looks like when SIGTERM lands on a thread whose handler never runs.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _square(x: int) -> int:
    return x * x


def test_stop_pool_ends_workers_that_never_handle_sigterm():
    pool = multiprocessing.get_context("fork").Pool(2, initializer=_deaf_to_sigterm)
    assert pool.map(_square, range(4)) == [0, 1, 4, 9]
    workers = list(pool._pool)
    started = time.monotonic()
    stop_pool(pool, grace=0.5)  # pool.terminate() alone would wait for ever
    assert time.monotonic() - started < 10
    assert all(not worker.is_alive() for worker in workers)
    assert not multiprocessing.active_children()


def test_stop_pool_after_a_clean_end_is_quick():
    pool = multiprocessing.get_context("fork").Pool(2)
    assert pool.map(_square, range(3)) == [0, 1, 4]
    pool.close()
    pool.join()
    started = time.monotonic()
    stop_pool(pool)
    assert time.monotonic() - started < 2 and not multiprocessing.active_children()
