"""What repeatable synthetic videos cost: make_demo's 120 videos under three x264 settings.

    .venv/bin/python bench/synthetic_encoding.py [--repeats 3] [--videos 60]

The videos of ``make_demo(n_videos=60, test_videos=60)`` (60 training scenes, 60 held-out
ones, 320x240, 2-4 s), rendered and encoded in this process one after another (CPU time is
the figure to compare on a shared machine), under:

- ``simd``: x264's default code paths (``cpu-independent=0``), what the demo used before;
- ``cpu-independent``: ``cpu-independent=1``, emoret's setting now (``X264_REPEATABLE``);
- ``lossless``: ``qp=0`` with the default code paths; decoded frames equal the drawn ones.

Settings alternate, ``--repeats`` rounds. Baseline: rendering alone (no encoding). Prints
one JSON object: per setting the median wall and CPU seconds with their range, the total
bytes, and how many videos decoded to other frames in another round (0 = repeatable here;
another CPU can differ more).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import av

from emoret.demo.encode import write_video
from emoret.demo.heldout import make_test_scenes
from emoret.demo.render import render_frames
from emoret.demo.scenes import Scene, make_scenes

SETTINGS = {"simd": "cpu-independent=0", "cpu-independent": None, "lossless": "cpu-independent=0:qp=0"}


def demo_scenes(n_videos: int) -> list[Scene]:
    train = make_scenes(n_videos, seed=0)
    return train + make_test_scenes(n_videos, seed=0, exclude=train)


def encode_all(out: Path, scenes: list[Scene], params: str | None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and total bytes of encoding every scene."""
    out.mkdir()
    wall, cpu = time.perf_counter(), time.process_time()
    for scene in scenes:
        write_video(out / f"{scene.video_id}.mp4", render_frames(scene), scene.fps,
                              x264_params=params)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, sum(p.stat().st_size for p in out.glob("*.mp4"))


def render_all(scenes: list[Scene]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for scene in scenes:
        for _ in render_frames(scene):
            pass
    return time.perf_counter() - wall, time.process_time() - cpu


def decoded_digests(out: Path) -> dict[str, str]:
    digests = {}
    for path in sorted(out.glob("*.mp4")):
        with av.open(str(path)) as container:
            planes = b"".join(f.to_ndarray(format="yuv420p").tobytes() for f in container.decode(video=0))
        digests[path.name] = hashlib.sha256(planes).hexdigest()
    return digests


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--videos", type=int, default=60, help="training scenes (as many held-out ones)")
    args = parser.parse_args()
    scenes = demo_scenes(args.videos)
    runs: dict[str, dict[str, list]] = {name: {"wall": [], "cpu": [], "bytes": [], "frames": []} for name in SETTINGS}
    runs["render only"] = {"wall": [], "cpu": []}
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeats):
            wall, cpu = render_all(scenes)
            runs["render only"]["wall"].append(wall)
            runs["render only"]["cpu"].append(cpu)
            for name, params in SETTINGS.items():
                out = Path(tmp) / f"{name}-{round_}"
                wall, cpu, size = encode_all(out, scenes, params)
                run = runs[name]
                run["wall"].append(wall)
                run["cpu"].append(cpu)
                run["bytes"].append(size)
                run["frames"].append(decoded_digests(out))
    report: dict[str, object] = {"videos": len(scenes), "repeats": args.repeats}
    for name, run in runs.items():
        entry: dict[str, object] = {"wall_s": spread(run["wall"]), "cpu_s": spread(run["cpu"])}
        if "bytes" in run:
            entry["bytes"] = sorted(set(run["bytes"]))
            first = run["frames"][0]
            entry["videos_decoding_otherwise"] = sum(any(d[v] != first[v] for d in run["frames"][1:]) for v in first)
        report[name] = entry
    report["seconds"] = round(time.time() - started, 1)
    report["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
