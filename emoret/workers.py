"""Worker processes that leave with their parent.

A worker ignores Ctrl-C (the parent handles it and stops the pool) and is sent SIGTERM
when the parent dies, ``kill -9`` included, so no worker sleeps on after a killed command.
``quiet_worker`` turns SIGTERM into a clean exit (its temp files removed); ``plain_worker``
lets it kill at once. ``stop_pool`` ends a pool even when a worker never handles SIGTERM.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any, NoReturn


def quiet_worker(parent: int) -> None:
    """Ctrl-C is the parent's to handle; its terminate() then stops a worker cleanly.

    SIGTERM becomes SystemExit, so a half-written temporary file is removed on the
    way out, and no traceback is printed. A worker also gets SIGTERM when its parent
    dies, however it dies (``kill -9`` included), instead of sleeping on forever.
    """

    def stop(signum: int, frame: FrameType | None) -> NoReturn:
        raise SystemExit(1)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop)
    die_with_parent(parent)


def plain_worker(parent: int) -> None:
    """A worker with nothing to clean up: Ctrl-C is the parent's, SIGTERM kills at once.

    No Python SIGTERM handler: a handler runs only in the main thread, and when SIGTERM
    lands on another thread (an FFmpeg decoding thread) while the main thread waits on the
    pool's queue, it never runs and the worker never exits (seen: Pool.terminate() hung).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)


def die_with_parent(parent: int) -> None:
    """SIGTERM this process when ``parent`` dies (Linux); exit now if it already has."""
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return  # not Linux: the pool's own shutdown is all there is
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def stop_pool(pool: Any, grace: float = 5.0) -> None:
    """``pool.terminate()`` that cannot hang: workers still there after ``grace`` seconds are killed.

    terminate() sends SIGTERM and waits for every worker. A worker's Python handler runs
    only in its main thread; when the signal lands on another thread (an FFmpeg decoding
    thread) while the main thread waits on the pool's queue, it is never handled and
    terminate() waits for ever (seen in the test suite). Files a killed worker was writing
    are temp files, swept by the next run.
    """
    stopper = threading.Thread(target=pool.terminate, name="stop-pool", daemon=True)
    stopper.start()
    stopper.join(grace)
    if stopper.is_alive():
        for process in list(getattr(pool, "_pool", [])):
            if process.exitcode is None:
                process.kill()
        stopper.join()
