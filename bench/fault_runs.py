"""Running emoret commands and killing them at chosen moments: shared by faults.py and store_faults.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
EMORET = [sys.executable, "-m", "emoret_cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
# What counts as left behind (temp files, live processes) is the fault tests' own definition.
sys.path.insert(0, str(ROOT / "tests"))
from fault_tools import descendants, leaked_after  # noqa: E402

# --- running and killing ---------------------------------------------------------------------


def run(args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(EMORET + [str(a) for a in args], env=ENV, capture_output=True, cwd=ROOT)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return done


def timed(args: list[str]) -> float:
    start = time.monotonic()
    run(args)
    return time.monotonic() - start


def print_counts_table(first_column: str, totals: dict[str, Counter], keys: list[str]) -> Counter:
    """A Markdown table of ``keys`` a row of ``totals``, then their sum (returned)."""
    print(f"| {first_column} | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for name, counts in totals.items():
        print(f"| {name} | " + " | ".join(str(counts[k]) for k in keys) + " |")
    overall = sum(totals.values(), Counter())
    print("| all | " + " | ".join(str(overall[k]) for k in keys) + " |")
    return overall


def run_and_kill(args: list[str], delay: float, ready: Callable[[], bool] | None = None,
                 limit: float = 60.0) -> tuple[bool, int]:
    """Start, SIGKILL the main process after ``delay`` s; (killed before it ended, leaked processes).

    With ``ready``: ``delay`` s after ``ready()`` first holds (a moment of the run's own, such
    as a file just rewritten), or at ``limit`` s if it never does.
    """
    process = subprocess.Popen(EMORET + [str(a) for a in args], env=ENV, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: set[int] = set()
    deadline = time.monotonic() + (delay if ready is None else limit)
    while time.monotonic() < deadline and process.poll() is None:
        seen |= descendants(process.pid)
        if ready is not None and ready():
            time.sleep(delay)
            break
        time.sleep(0.002)
    killed = process.poll() is None
    seen |= descendants(process.pid)
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return killed, len(leaked_after(seen, 5))
