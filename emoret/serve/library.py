"""The video files a server may send: those the index holds, and only where they really are.

A request names a file by the ``path`` an index record carries (what ``/api/search``
returns). It is opened only when that exact string is a path of the index, has no ``..``
part, and the file opened is a regular file inside the library, the folders that hold the
index's files: a path the index does not hold, a symlink leading out of the library (one
planted after indexing, say) or a FIFO is refused, as if absent. The check is made on the opened file
(``/proc/self/fd``), so a link swapped in between the check and the open is caught too.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO


class Library:
    """The set of file paths an index's records hold."""

    def __init__(self, paths: Iterable[str]):
        self._paths = frozenset(paths)

    @classmethod
    def of_items(cls, items: Iterable[dict[str, Any]]) -> Library:
        return cls(path for item in items if isinstance(path := item.get("path"), str) and path)

    def __contains__(self, path: object) -> bool:
        return path in self._paths

    def __len__(self) -> int:
        return len(self._paths)

    def open(self, path: str) -> BinaryIO | None:
        """The file at ``path`` opened for reading, or None where it may not be sent (or is gone)."""
        if path not in self._paths or ".." in Path(path).parts:
            return None
        return open_inside(path, self.folders)

    @functools.cached_property
    def folders(self) -> frozenset[str]:
        """The library: the real folders holding the index's files."""
        return frozenset(os.path.realpath(os.path.dirname(os.path.abspath(path))) for path in self._paths)


def open_inside(path: str, folders: frozenset[str]) -> BinaryIO | None:
    """``path`` opened when it is a regular file whose real location lies under one of ``folders``; else None."""
    try:
        # O_NONBLOCK: opening a FIFO planted under the name must not hang the server.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        real = _real_path(fd, path)
        if stat.S_ISREG(os.fstat(fd).st_mode) and _is_under(real, folders):
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
    except OSError:
        pass
    os.close(fd)
    return None


def _real_path(fd: int, path: str) -> str:
    """Where the opened file really is (Linux: what the descriptor points at)."""
    link = f"/proc/self/fd/{fd}"
    return os.readlink(link) if os.path.islink(link) else os.path.realpath(path)


def _is_under(path: str, folders: frozenset[str]) -> bool:
    parent = os.path.dirname(path)
    while True:
        if parent in folders:
            return True
        up = os.path.dirname(parent)
        if up == parent:
            return False
        parent = up
