"""Make the offline demo set: synthetic captioned videos and a tiny base model.

    python examples/make_demo.py demo --videos 60 --seed 0 [--split --test-videos 60] [--long [--clips 10]]
    python examples/make_demo.py demo --long-only [--clips 10]

writes demo/videos/*.mp4, demo/captions.json (video, caption, duration, sen_id),
demo/scenes.json (what each video shows) and demo/base-model/ (a small random CLIP
and its tokenizer, loadable with --model demo/base-model). Nothing is downloaded.
--split also writes a held-out test set, demo/test/{videos,captions.json,scenes.json}:
other videos, whose emotional captions use words no training caption uses (their
records carry emotion: 1); the training set and base model are the same as without it.

With --long it also writes demo/long/*.mp4: the same scenes, shuffled, --clips of them
back to back in each long video, and demo/long-captions.json (video, start, end in
seconds, caption, clip: the scene's id), to find moments in long videos.
--long-only writes only those, from the scenes of the demo set already in OUT (its
scenes.json, e.g. the quickstart's), and leaves the rest of OUT as it is.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output directory")
    parser.add_argument("--videos", type=int, default=60, help="how many videos (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--split", action="store_true", help="also write a held-out test set under OUT/test/")
    parser.add_argument("--test-videos", type=int, default=60, help="test videos with --split (default 60)")
    parser.add_argument("--long", action="store_true", help="also long videos made of the clips, with their times")
    parser.add_argument("--long-only", action="store_true",
                        help="only the long videos, from the scenes of the demo set already in OUT")
    parser.add_argument("--clips", type=int, default=10, help="clips a long video (default 10)")
    args = parser.parse_args(argv)
    if args.videos < 1:
        parser.error("--videos must be at least 1")
    if args.split and args.test_videos < 1:
        parser.error("--test-videos must be at least 1")
    if args.clips < 1:
        parser.error("--clips must be at least 1")

    try:
        import emoret  # noqa: F401
    except ModuleNotFoundError:
        print(f"make_demo: emoret is not installed for {sys.executable}: activate its venv "
              "(. .venv/bin/activate) or run .venv/bin/python", file=sys.stderr)
        return 2
    start = time.perf_counter()
    if args.long_only:
        return _long_only(args.out, args.seed, args.clips, start)
    from emoret.demo.long import make_long_demo
    from emoret.demo.make import make_demo

    paths = make_demo(args.out, n_videos=args.videos, seed=args.seed, test_videos=args.test_videos if args.split else 0)
    if args.long:
        paths.update(make_long_demo(args.out, n_videos=args.videos, seed=args.seed, clips_per_video=args.clips))
    for name, path in paths.items():
        print(f"{name}: {path}", file=sys.stderr)
    made = args.videos + (args.test_videos if args.split else 0)
    print(f"made {made} videos in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


def _long_only(out: str, seed: int, clips: int, start: float) -> int:
    """Long videos from ``OUT/scenes.json``: those a full run with ``--long`` would make from the same set."""
    import json
    from pathlib import Path

    from emoret.atomic import write_bytes_atomic
    from emoret.demo.long import make_long_videos
    from emoret.demo.scenes import Scene

    scenes_path = Path(out) / "scenes.json"
    try:
        scenes = [Scene(**fields) for fields in json.loads(scenes_path.read_text())]
    except (OSError, ValueError, TypeError) as error:
        print(f"make_demo: {scenes_path}: no demo set to take the scenes from ({error}); "
              "make one first (without --long-only)", file=sys.stderr)
        return 2
    paths, records = make_long_videos(Path(out) / "long", scenes, clips, seed)
    captions_path = Path(out) / "long-captions.json"
    write_bytes_atomic(captions_path, (json.dumps(records, indent=1) + "\n").encode())
    print(f"long_videos: {Path(out) / 'long'}\nlong_captions: {captions_path}", file=sys.stderr)
    print(f"made {len(paths)} long videos in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
