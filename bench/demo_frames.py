"""Do two demo sets decode to the same frames? The check behind the quickstart's figures.

    python bench/demo_frames.py make OUT [--asm0]     # make_demo(OUT, 60 videos, seed 0, 60 held out)
    python bench/demo_frames.py compare DIR DIR ...   # decoded frames of every video, against the first

``--asm0`` runs x264 on its plain-C path (no SIMD), which stands in for a CPU with other
instructions than this one. ``compare`` decodes every ``videos/*.mp4`` and ``test/videos/*.mp4``
(the quickstart's ``DIR`` works too) and prints one JSON object: videos compared, and for each
other set the videos whose decoded frames differ from the first's and those whose bytes do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import av

from emoret.demo import encode
from emoret.demo.make import make_demo


def make(out: Path, asm0: bool) -> None:
    if asm0:
        # Read by write_video at each call, in forked encoders too.
        encode.X264_REPEATABLE = f"{encode.X264_REPEATABLE}:asm=0"
    started = time.perf_counter()
    make_demo(out, n_videos=60, seed=0, test_videos=60)
    print(json.dumps({"made": str(out), "asm0": asm0, "seconds": round(time.perf_counter() - started, 1)}))


def digests(directory: Path) -> dict[str, tuple[str, str]]:
    """Each video's path under ``directory``: (digest of its decoded YUV planes, digest of its bytes)."""
    found = {}
    for path in sorted([*directory.glob("videos/*.mp4"), *directory.glob("test/videos/*.mp4")]):
        with av.open(str(path)) as container:
            planes = b"".join(frame.to_ndarray(format="yuv420p").tobytes() for frame in container.decode(video=0))
        found[str(path.relative_to(directory))] = (hashlib.sha256(planes).hexdigest(),
                                                   hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def compare(directories: list[Path]) -> None:
    first = digests(directories[0])
    report: dict[str, object] = {"videos": len(first), "against": str(directories[0])}
    for other_dir in directories[1:]:
        other = digests(other_dir)
        if other.keys() != first.keys():
            raise SystemExit(f"{other_dir}: other videos than {directories[0]}")
        report[str(other_dir)] = {
            "frames_differ": [name for name in first if other[name][0] != first[name][0]],
            "bytes_differ": len([name for name in first if other[name][1] != first[name][1]]),
        }
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    maker = commands.add_parser("make")
    maker.add_argument("out", type=Path)
    maker.add_argument("--asm0", action="store_true", help="x264 without its SIMD code")
    comparer = commands.add_parser("compare")
    comparer.add_argument("dirs", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "make":
        make(args.out, args.asm0)
    else:
        compare(args.dirs)


if __name__ == "__main__":
    main()
