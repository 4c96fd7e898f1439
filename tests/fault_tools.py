"""Helpers for the fault tests: a full disk, leftovers, subprocesses to kill."""

from __future__ import annotations


def fill_disk(directory, leave: int = 0) -> None:
    """Fill the file system holding ``directory`` until ``leave`` bytes or fewer are free."""
    import os

    ballast = os.path.join(directory, "ballast")
    with open(ballast, "ab") as handle:
        block = b"\0" * 65536
        while True:
            free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
            if free <= leave:
                break
            try:
                handle.write(block[: max(1, min(len(block), free - leave))])
                handle.flush()
            except OSError:
                break


def temp_files(directory) -> list[str]:
    """Temporary files and staging directories left anywhere under ``directory``."""
    import os

    found = []
    for root, dirs, files in os.walk(directory):
        for name in files + dirs:
            if name.endswith(".tmp") or ".new-" in name or ".old-" in name:
                found.append(os.path.join(root, name))
    return found


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    import os

    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(p) for p in handle.read().split()]
        except OSError:
            pass
    return found



def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, children of children included."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for kid in children(todo.pop()):
            if kid not in found:
                found.add(kid)
                todo.append(kid)
    return found

def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def leaked_after(pids, seconds: float) -> list[int]:
    """The ``pids`` still alive after waiting up to ``seconds`` for them to go; those are
    killed (after being counted), so a failing check leaves nothing running."""
    import os
    import signal
    import time

    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked = [pid for pid in pids if alive(pid)]
    for pid in leaked:
        os.kill(pid, signal.SIGKILL)
    return leaked


def cli_env() -> dict:
    import os

    return {**os.environ, "PYTHONPATH": os.getcwd()}


def through_fifo(fifo, write):
    """``write()`` with a reader on the FIFO ``fifo`` (made here); (its result, the bytes read or None)."""
    import os
    import threading

    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()), daemon=True)
    reader.start()
    result = write()
    reader.join(timeout=10)
    assert not reader.is_alive(), "the FIFO's reader never saw the end of the data"
    return result, (received[0] if received else None)
