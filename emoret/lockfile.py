"""A lock file that exists only while it is held (flock), so none is left behind.

The classic race of removing a lock file: a waiter opens the file, its holder
unlinks it and unlocks, the waiter wins the lock of a file no longer at the path,
while a newcomer creates and locks a new one there: two holders. Here the holder
unlinks while still holding, and whoever wins a lock checks that the file it locked
is still the one at the path, else opens the path again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class LockBusy(Exception):
    """The lock is held and the caller would not wait."""


@contextlib.contextmanager
def held(path: str | os.PathLike, wait: bool = True, on_wait: Callable[[], None] | None = None,
         busy: Callable[[], Exception] | None = None) -> Iterator[None]:
    """Hold the lock at ``path`` for the block.

    When another holds it: ``on_wait()`` is called once before waiting, or with ``wait``
    False, ``busy()`` is raised (default :class:`LockBusy`).
    """
    path = Path(path)
    handle = _locked(path, wait, on_wait, busy or (lambda: LockBusy(str(path))))
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # while still held: see the module's docstring
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _locked(path: Path, wait: bool, on_wait: Callable[[], None] | None, busy: Callable[[], Exception]) -> Any:
    """The file at ``path``, opened and flocked, and still the file at ``path``."""
    waited = False
    while True:
        handle = open(path, "a+b")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise busy() from None
                if on_wait is not None and not waited:
                    on_wait()
                waited = True
                fcntl.flock(handle, fcntl.LOCK_EX)
            if _same_file(handle, path):
                return handle
        except BaseException:
            handle.close()
            raise
        handle.close()  # won the lock of a file its holder had removed: try the path again


def _same_file(handle: Any, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(handle.fileno())
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)
