"""Atomic writes: a temporary file beside the target, renamed over it on success.

A reader sees the old file or the new one, never half of one; a crash leaves the old.
Results get the mode a plain ``open`` would give them under the process's umask.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def default_mode(directory: bool = False) -> int:
    """The mode a plain ``open`` (0666) or ``mkdir`` (0777) gives under this process's umask."""
    return (0o777 if directory else 0o666) & ~_UMASK


def temp_beside(path: Path) -> str:
    """A new empty temporary file in ``path``'s directory (created if need be), mode as ``open``'s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600 files; give the result the mode a plain open() would.
        os.fchmod(fd, default_mode())
    finally:
        os.close(fd)
    return tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it into place on success."""
    target = Path(path)
    tmp = temp_beside(target)
    try:
        yield tmp
        # Again after the body: some writers (safetensors) replace the file with a private one.
        os.chmod(tmp, default_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
