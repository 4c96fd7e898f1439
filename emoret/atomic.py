"""Atomic writes: a temporary file beside the target, renamed over it on success.

A reader sees the old file or the new one, never half of one; a crash leaves the old.
Results get the mode a plain ``open`` would give them under the process's umask.

Where an output goes: a regular file (or a new path) is replaced atomically; through
a symbolic link, the link's target is replaced and the link kept. Anything else (a
device such as ``/dev/null``, a FIFO, ``/dev/stdout``) cannot be replaced by a rename:
it is written straight.

Temporary names carry the writing process's id (``.NAME.PID.RANDOM.tmp``), so a
later run can tell the leftovers of a killed writer from those of a live one and
remove only the former (:func:`sweep_stale_temps`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from emoret import lockfile

TEMP_SUFFIX = ".tmp"
# Room in a 255-byte file name for ".", ".PID.", the random part and ".tmp".
_NAME_BYTES = 255
_TEMP_OVERHEAD = 1 + 1 + 10 + 1 + 8 + len(TEMP_SUFFIX)

# Errors that say the machine, not the input, stopped a write: a failed run (exit 1).
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


@dataclass(frozen=True)
class Output:
    path: Path  # what to write or replace (a symlink's target, resolved)
    direct: bool  # write into it as it is (a device or FIFO), no temp file and rename


def resolve_output(path: str | os.PathLike) -> Output:
    """Where a write to ``path`` must go, and whether it can be replaced atomically."""
    given = Path(path)
    try:
        mode = os.stat(given).st_mode  # through links
    except FileNotFoundError:
        return Output(_through_links(given), direct=False)  # a new file (or a dangling link's target)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(given))
    if not stat.S_ISREG(mode) or _open_descriptor(given):
        # /dev/stdout onto a file: renaming over the file would leave the shell's descriptor
        # writing to a deleted one.
        return Output(given, direct=True)
    return Output(_through_links(given), direct=False)


def _through_links(path: Path) -> Path:
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _open_descriptor(path: Path) -> bool:
    """/dev/stdout, /dev/fd/N, /proc/self/fd/N: a descriptor already open, not a file to replace."""
    for name in (str(path), os.path.realpath(path)):
        if name.startswith(("/dev/std", "/dev/fd/", "/proc/")):
            return True
    return False


def temp_prefix(target: Path) -> str:
    """``.NAME.PID.`` for a temp file beside ``target``, shortened to fit a 255-byte name."""
    name = target.name
    budget = _NAME_BYTES - _TEMP_OVERHEAD
    encoded = os.fsencode(name)
    if len(encoded) > budget:
        name = os.fsdecode(encoded[:budget])  # the temp name only needs to be recognisable
    return f".{name}.{os.getpid()}."


def _writer_pid(entry: str, stem: str | None) -> int | None:
    """The pid in ``.STEM.PID.RANDOM.tmp``, or None when ``entry`` is not such a name."""
    if not (entry.startswith(".") and entry.endswith(TEMP_SUFFIX)):
        return None
    parts = entry[1 : -len(TEMP_SUFFIX)].rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    if stem is not None and not os.fsencode(stem).startswith(os.fsencode(parts[0])):  # may be shortened
        return None
    return int(parts[1])


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def sweep_stale_temps(directory: str | os.PathLike, name: str | None = None) -> int:
    """Remove temp files left in ``directory`` by writers that are no longer running.

    ``name`` limits the sweep to the temp files of that one output. Returns how many
    were removed.
    """
    removed = 0
    try:
        entries = list(os.scandir(os.fspath(directory)))
    except OSError:
        return 0
    for entry in entries:
        pid = _writer_pid(entry.name, name)
        if pid is None or _alive(pid):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass  # gone already, or not ours to remove
    return removed


_SWEPT: set[str] = set()


def _sweep_once(directory: Path) -> None:
    key = os.path.realpath(directory)
    if key not in _SWEPT:
        sweep_stale_temps(directory)
        _SWEPT.add(key)


def is_disk_error(err: BaseException) -> bool:
    """A full disk, a quota, a read-only or failing file system."""
    return isinstance(err, OSError) and err.errno in DISK_ERRNOS


class _WriteOnly:
    """A file seen only through ``write``: numpy then writes in chunks with ordinary
    writes, whose full-disk error is ENOSPC, instead of ``tofile``'s errno-less one."""

    def __init__(self, handle: BinaryIO) -> None:
        self.write = handle.write


def save_npy(handle: BinaryIO, array: Any) -> None:
    """``np.save`` onto an open binary file, reporting a full disk as ENOSPC."""
    import numpy as np

    np.save(_WriteOnly(handle), array, allow_pickle=False)


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def default_mode(directory: bool = False) -> int:
    """The mode a plain ``open`` (0666) or ``mkdir`` (0777) gives under this process's umask."""
    return (0o777 if directory else 0o666) & ~_UMASK


def temp_beside(path: Path) -> str:
    """A new empty temporary file in ``path``'s directory (created if need be), mode as ``open``'s.

    The first time a process writes into a directory, it removes the temp files that
    killed writers left there: every atomic writer comes here, so the next run of any
    command cleans up after the last. Once a directory: a frame store of 100k files
    written one by one must not be listed 100k times.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        # mkstemp makes 0600 files; give the result the mode a plain open() would.
        os.fchmod(fd, default_mode())
    finally:
        os.close(fd)
    return tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    Through a symlink, its target is replaced; a device or FIFO is written straight.
    """
    output = resolve_output(path)
    if output.direct:
        yield str(output.path)
        return
    target = output.path
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
    """Replace a file atomically; a device, FIFO or ``/dev/stdout`` is written straight
    (no fsync: a pipe or terminal refuses it, and there is nothing to make durable)."""
    direct = resolve_output(path).direct
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            if not direct:
                os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_paths(paths: list[Path], before_swap: Callable[[], object] | None = None) -> Iterator[list[str]]:
    """Temporary paths for several files, renamed into place in order once all are written.

    A failure while writing (a full disk) removes every temp file and leaves all the
    old files as they were. ``before_swap`` runs between the writing and the renames.
    The renames themselves are separate steps: a set of files swapped this way must
    be able to tell, on reading, that a kill came between two of them.
    """
    targets = [resolve_output(path).path for path in paths]
    temps: list[str] = []
    try:
        temps = [temp_beside(target) for target in targets]
        yield temps
        if before_swap is not None:
            before_swap()
        for tmp, target in zip(temps, targets, strict=False):
            os.chmod(tmp, default_mode())
            os.replace(tmp, target)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


class Busy(Exception):
    """Another process holds the writer lock (the message says whose output)."""


def lock_beside(target: str | os.PathLike) -> Path:
    """``.NAME.lock`` beside ``target``: the lock file of one output (a directory kept or swapped whole).

    A hidden NAME (``~/.emoret-index``) gets ``.NAME.lock``, not ``..NAME.lock`` (``X`` and ``.X``
    in one directory then share a lock: their writers take turns)."""
    target = Path(target)
    return target.parent / f".{target.name.removeprefix('.')}.lock"


@contextlib.contextmanager
def writer_lock(lock_file: Path, busy: str, wait: bool = True,
                on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock at ``lock_file`` for the block: one writer at a time.

    A second writer waits (``on_wait()`` is called first) or, with ``wait=False``,
    raises :class:`Busy` with the message ``busy``. The kernel drops the lock when
    its holder dies, ``kill -9`` included; the lock file exists only while held
    (:mod:`emoret.lockfile`), so none is left behind.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lockfile.held(lock_file, wait=wait, on_wait=on_wait, busy=lambda: Busy(busy)):
        yield
