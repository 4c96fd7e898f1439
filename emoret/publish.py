"""Publishing a directory whole: a writer lock, a staging directory, one atomic swap.

A new version of a directory ``DIR`` is written into a staging directory beside it
(``.DIR.new-*``) and swapped into place in one step (Linux ``renameat2`` with
``RENAME_EXCHANGE``; elsewhere two renames, which readers ride out by retrying: see
:func:`may_be_swapping`), so a reader sees the old version or the new one, never half of
either. Writers take a lock file beside ``DIR`` (``.DIR.lock``, :func:`emoret.atomic.writer_lock`);
under it, staging directories left by killed writers are swept away. The files inside are
the caller's: :mod:`emoret.atomic` writes single files the same way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from emoret import atomic


def resolve_target(target: str | os.PathLike[str]) -> Path:
    """The directory a path names: a symlink stands for its target.

    Writers through the link and through the target then take the same lock, and
    the new version replaces the target, not the link.
    """
    target = Path(target)
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def lock_path(target: str | os.PathLike[str]) -> Path:
    return atomic.lock_beside(resolve_target(target))


def sweep_stale_staging(target: str | os.PathLike[str]) -> int:
    """Remove ``.NAME.new-*`` / ``.NAME.old-*`` left by killed writers; call with the lock held.

    Only a holder of the writer lock makes them, so under the lock none is live.
    """
    target = resolve_target(target)
    removed = 0
    for pattern in (f".{target.name}.new-*", f".{target.name}.old-*"):
        for leftover in target.parent.glob(pattern):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
                removed += 1
    return removed


@contextlib.contextmanager
def writer_lock(target: str | os.PathLike[str], busy: str, wait: bool = True,
                on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the directory's writer lock for the block (:class:`emoret.atomic.Busy` with the
    message ``busy`` at once without ``wait``); stale staging directories are swept first."""
    with atomic.writer_lock(lock_path(target), busy, wait=wait, on_wait=on_wait):
        sweep_stale_staging(target)
        yield


@contextlib.contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A new staging directory beside ``target`` for the block to fill: published at ``target``
    when the block ends, removed (the old version left as it was) when it raises."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        yield staging
        os.chmod(staging, atomic.default_mode(directory=True))  # mkdtemp's mode is private (0700)
        fsync_dir(staging)
        publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def raise_if_disk_filled(path: Path) -> None:
    """hnswlib writes with a C++ stream that drops a full disk's error: a truncated file.

    A write cut short by a full disk leaves no free block behind it, so no free
    block after the write is taken as the sign (at worst a false alarm on a disk
    filled exactly to the last block).
    """
    stats = os.statvfs(path.parent)
    free = stats.f_bfree if os.geteuid() == 0 else stats.f_bavail  # root may use reserved blocks
    if free == 0:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def publish(staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target`` in one step; the old version is removed after."""
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        if target.exists():
            target.rmdir()
        os.rename(staging, target)
        fsync_dir(target.parent)
        return
    if exchange(staging, target):
        fsync_dir(target.parent)
        shutil.rmtree(staging, ignore_errors=True)
        return
    # No atomic exchange on this system: a brief moment without the directory,
    # which readers ride out by retrying (see may_be_swapping).
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old.rmdir()
    os.rename(target, old)
    os.rename(staging, target)
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return bool(renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def may_be_swapping(path: Path) -> bool:
    """A staging directory or a missing target means a writer may be publishing."""
    return not path.exists() or any(path.parent.glob(f".{path.name}.new-*")) or any(
        path.parent.glob(f".{path.name}.old-*")
    )
