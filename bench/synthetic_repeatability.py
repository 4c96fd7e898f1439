"""Encode the same synthetic set many times, every way it can be run, and count distinct bytes.

    python bench/synthetic_repeatability.py [--repeats 6] [--videos 9] [--load 2]

Ways: this process one video after another; forked workers (2, and one a core); fresh
interpreters started together; all while ``--load`` busy processes spin the CPUs. Prints
one JSON object: for each way, how many encodes, and over all of them the most distinct
byte strings any one video had (1 = repeatable).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emoret.demo import synthetic

ROOT = Path(__file__).resolve().parents[1]
SHAPE = {"width": 64, "height": 48, "fps": 10, "duration": 1.0}


def _spin(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x = (x * 1103515245 + 12345) % 2**31


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.glob("*.mp4"))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--videos", type=int, default=9)
    parser.add_argument("--load", type=int, default=2, help="busy processes alongside")
    args = parser.parse_args()
    burners = [multiprocessing.Process(target=_spin, args=(time.time() + 3600,)) for _ in range(args.load)]
    for burner in burners:
        burner.start()
    seen: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    started = time.time()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = 0
            for repeat in range(args.repeats):
                for way, workers in (("in-process", 1), ("forked-2", 2), ("forked-all", None)):
                    out = Path(tmp) / f"{way}-{repeat}"
                    synthetic.make_videos(out, args.videos, seed=5, workers=workers, **SHAPE)
                    for name, digest in _digests(out).items():
                        seen.setdefault(name, set()).add(digest)
                    counts[way] = counts.get(way, 0) + 1
                    runs += 1
                script = ("import sys; from emoret.demo import synthetic; synthetic.make_videos(sys.argv[1], "
                          f"{args.videos}, seed=5, workers=1, **{SHAPE!r})")
                env = {**os.environ, "PYTHONPATH": str(ROOT)}
                outs = [Path(tmp) / f"fresh-{repeat}-{i}" for i in range(2)]
                procs = [subprocess.Popen([sys.executable, "-c", script, str(o)], env=env) for o in outs]
                if any(p.wait() for p in procs):
                    raise SystemExit("a fresh interpreter failed")
                for out in outs:
                    for name, digest in _digests(out).items():
                        seen.setdefault(name, set()).add(digest)
                counts["fresh-interpreters"] = counts.get("fresh-interpreters", 0) + len(outs)
    finally:
        for burner in burners:
            burner.terminate()
    print(json.dumps({"encodes_per_way": counts, "videos": args.videos, "busy_processes": args.load,
                      "most_distinct_bytes_per_video": max(len(v) for v in seen.values()),
                      "seconds": round(time.time() - started, 1),
                      "loadavg": Path("/proc/loadavg").read_text().split()[:3]}))


if __name__ == "__main__":
    main()
