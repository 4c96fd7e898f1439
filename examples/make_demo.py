"""Make the offline demo set: synthetic captioned videos and a tiny base model.

    python examples/make_demo.py demo --videos 60 --seed 0

writes demo/videos/*.mp4, demo/captions.json (video, caption, duration, sen_id),
demo/scenes.json (what each video shows) and demo/base-model/ (a small random CLIP
and its tokenizer, loadable with --model demo/base-model). Nothing is downloaded.
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
    args = parser.parse_args(argv)
    if args.videos < 1:
        parser.error("--videos must be at least 1")

    from emoret.video.synthetic import make_demo

    start = time.perf_counter()
    paths = make_demo(args.out, n_videos=args.videos, seed=args.seed)
    for name, path in paths.items():
        print(f"{name}: {path}", file=sys.stderr)
    print(f"made {args.videos} videos in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
