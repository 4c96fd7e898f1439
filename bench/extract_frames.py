"""Time `emoret extract-frames` (12 frames a video) against the ffmpeg command line.

Videos: N synthetic clips (default 200) of 15 s at 640x360, 30 fps, H.264 (x264
veryfast, CRF 23, B-frames), a textured background panning under a moving shape, so
every frame has real motion to decode. The keyframe interval is 2 s by default
(``--gop 60``; streaming services use 2-4 s); ``--gop 250`` is x264's own default.
They are made once and kept in bench/out/extract_frames/.

Baseline: what a user would run by hand, one ffmpeg process a video, two at a time:
``ffmpeg -i V -vf "select='eq(n,i1)+...',scale=W:H:flags=bicubic,format=rgb24,crop=224:224"
-fps_mode passthrough -f rawvideo -pix_fmt rgb24 OUT``, the same 12 frame numbers
emoret picks (worked out before the clock starts, which favours ffmpeg). The ffmpeg
command line is the system's (Debian 12: FFmpeg 5.1), while emoret decodes with the FFmpeg
inside PyAV's wheel (8.1), so a second baseline uses that same library: PyAV decoding every
frame and converting the 12 kept ones exactly as emoret does, two processes at a time.
emoret runs as the command a user types: ``emoret extract-frames DIR --out OUT --force -j 2``.
All three outputs must agree to a small pixel tolerance.

    .venv/bin/python bench/extract_frames.py [--videos 200] [--gop 60] [--repeat 3]

Needs Debian's ffmpeg: ``apt-get update && apt-get install -y ffmpeg``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emoret.demo.encode import write_video  # noqa: E402
from emoret.demo.render import render_frames  # noqa: E402
from emoret.demo.scenes import Scene, make_scenes  # noqa: E402
from emoret.devices import available_cpus  # noqa: E402
from emoret.video.sampling import sample_indices, scaled_size  # noqa: E402

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 30, 15
NUM_FRAMES, SIZE = 12, 224
EMORET = [sys.executable, "-m", "emoret_cli"]  # this interpreter's emoret, as a user would run it


def textured_frames(scene: Scene, seed: int):
    """The scene's shape over a panning noise texture tinted by its light."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, size=(HEIGHT // 6 + 40, WIDTH // 6 + 60, 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(coarse, 6, axis=0), 6, axis=1).astype(np.uint16)
    step_y, step_x = rng.integers(1, 3), rng.integers(1, 4)
    for index, shape_frame in enumerate(render_frames(scene, WIDTH, HEIGHT, FPS, SECONDS)):
        y = (index * step_y) % (texture.shape[0] - HEIGHT)
        x = (index * step_x) % (texture.shape[1] - WIDTH)
        patch = texture[y : y + HEIGHT, x : x + WIDTH]
        yield ((shape_frame.astype(np.uint16) * 3 + patch) // 4).astype(np.uint8)


def _make_one(args: tuple[Path, Scene, int, int]) -> None:
    path, scene, seed, gop = args
    write_video(path, textured_frames(scene, seed), FPS, gop=gop)


def make_videos(out_dir: Path, n_videos: int, gop: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    scenes = make_scenes(n_videos, seed=7, prefix="bench")
    jobs = [(out_dir / f"{s.video_id}.mp4", s, i, gop) for i, s in enumerate(scenes)]
    missing = [job for job in jobs if not job[0].exists()]
    if missing:
        print(f"making {len(missing)} videos in {out_dir} (once) ...", file=sys.stderr)
        start = time.perf_counter()
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(available_cpus()) as pool:
            pool.map(_make_one, missing, chunksize=1)
        print(f"  made in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return [job[0] for job in jobs]


def frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return container.streams.video[0].frames


def ffmpeg_command(path: Path, out: Path, indices: list[int]) -> list[str]:
    select = "+".join(f"eq(n\\,{i})" for i in sorted(set(indices)))
    width, height = scaled_size(WIDTH, HEIGHT, SIZE, "crop")
    # Scale straight to RGB (one swscale pass, as emoret does), then crop: cropping
    # yuv420p would round the offset to an even column.
    chain = f"select='{select}',scale={width}:{height}:flags=bicubic,format=rgb24,crop={SIZE}:{SIZE}"
    return ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(path), "-vf", chain,
            "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", str(out)]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ffmpeg(commands: list[list[str]], parallel: int = 2) -> tuple[float, float]:
    """Wall and CPU seconds (CPU: user + system of the finished processes)."""

    def one(command: list[str]) -> None:
        subprocess.run(command, check=True)

    cpu, start = children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, commands))
    return time.perf_counter() - start, children_cpu() - cpu


def pyav_every_frame(job: tuple[Path, list[int], Path]) -> None:
    """Decode every frame with PyAV; convert the kept ones as emoret does (bicubic to RGB, crop)."""
    import av

    path, indices, out = job
    wanted = set(indices)
    width, height = scaled_size(WIDTH, HEIGHT, SIZE, "crop")
    top, left = (height - SIZE) // 2, (width - SIZE) // 2
    kept = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = 2  # as each emoret worker runs it
        for number, frame in enumerate(container.decode(stream)):
            if number in wanted:
                rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="BICUBIC").to_ndarray()
                kept[number] = rgb[top : top + SIZE, left : left + SIZE]
    np.save(out, np.stack([kept[i] for i in indices]))


def run_pyav(jobs: list[tuple[Path, list[int], Path]], parallel: int = 2) -> tuple[float, float]:
    """Wall and CPU seconds of the PyAV baseline in ``parallel`` worker processes."""
    import multiprocessing

    cpu, start = children_cpu(), time.perf_counter()
    pool = multiprocessing.get_context("fork").Pool(parallel)
    pool.map(pyav_every_frame, jobs, chunksize=1)
    pool.close()
    pool.join()  # the workers are reaped here, so their CPU time counts
    return time.perf_counter() - start, children_cpu() - cpu


def run_emoret(videos_dir: Path, out: Path, workers: int = 2) -> tuple[float, float]:
    command = [*EMORET, "extract-frames", str(videos_dir), "--out", str(out), "--force", "-j", str(workers),
               "--num-frames", str(NUM_FRAMES), "--size", str(SIZE)]
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start, children_cpu() - cpu


def compare(videos: list[Path], indices: dict[Path, list[int]], ffmpeg_dir: Path, emoret_dir: Path,
            pyav_dir: Path) -> dict:
    diffs, pyav_max = [], 0
    for path in videos:
        ours = np.load(emoret_dir / f"{path.stem}.npy")
        pyav_max = max(pyav_max, int(np.abs(ours.astype(np.int16) - np.load(pyav_dir / f"{path.stem}.npy")).max()))
        raw = np.fromfile(ffmpeg_dir / f"{path.stem}.rgb", dtype=np.uint8)
        unique = sorted(set(indices[path]))
        theirs = raw.reshape(len(unique), SIZE, SIZE, 3)[[unique.index(i) for i in indices[path]]]
        diffs.append(np.abs(ours.astype(np.int16) - theirs.astype(np.int16)))
    every = np.concatenate([d.ravel() for d in diffs])
    return {
        "mean_abs_diff": float(every.mean()),
        "p99_abs_diff": float(np.percentile(every, 99)),
        "max_abs_diff": int(every.max()),
        "worst_video_mean": float(max(d.mean() for d in diffs)),
        "pyav_max_abs_diff": pyav_max,  # same library, same conversion: expected 0
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--gop", type=int, default=60, help="keyframe interval of the test videos (frames)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (the median is reported)")
    parser.add_argument("--workers", type=int, default=2, help="emoret processes / ffmpeg processes at a time")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        print("bench/extract_frames.py needs the ffmpeg command line: "
              "apt-get update && apt-get install -y ffmpeg", file=sys.stderr)
        return 2
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]

    videos_dir = ROOT / "bench" / "out" / "extract_frames" / f"videos-gop{args.gop}-n{args.videos}"
    videos = make_videos(videos_dir, args.videos, args.gop)
    indices = {path: sample_indices(frame_count(path), NUM_FRAMES) for path in videos}

    ffmpeg_times, emoret_times, ffmpeg_cpu, emoret_cpu, pyav_times, pyav_cpu = [], [], [], [], [], []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        ffmpeg_dir, emoret_dir, pyav_dir = Path(tmp) / "ffmpeg", Path(tmp) / "emoret", Path(tmp) / "pyav"
        ffmpeg_dir.mkdir()
        pyav_dir.mkdir()
        commands = [ffmpeg_command(p, ffmpeg_dir / f"{p.stem}.rgb", indices[p]) for p in videos]
        pyav_jobs = [(p, indices[p], pyav_dir / f"{p.stem}.npy") for p in videos]
        for _ in range(args.repeat):  # alternate, so neither gets a warmer cache or a quieter machine
            wall, cpu = run_ffmpeg(commands, args.workers)
            ffmpeg_times.append(wall)
            ffmpeg_cpu.append(cpu)
            wall, cpu = run_emoret(videos_dir, emoret_dir, args.workers)
            emoret_times.append(wall)
            emoret_cpu.append(cpu)
            wall, cpu = run_pyav(pyav_jobs, args.workers)
            pyav_times.append(wall)
            pyav_cpu.append(cpu)
        agreement = compare(videos, indices, ffmpeg_dir, emoret_dir, pyav_dir)

    import av

    ffmpeg_s, emoret_s = statistics.median(ffmpeg_times), statistics.median(emoret_times)
    pyav_s = statistics.median(pyav_times)
    result = {
        "videos": len(videos),
        "video": f"{WIDTH}x{HEIGHT} {FPS} fps {SECONDS} s H.264, keyframe every {args.gop} frames",
        "frames_per_video": NUM_FRAMES,
        "parallel": args.workers,
        "ffmpeg": version,
        "pyav": f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})",
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "ffmpeg_s": [round(t, 2) for t in ffmpeg_times],
        "emoret_s": [round(t, 2) for t in emoret_times],
        "ffmpeg_cpu_s": [round(t, 2) for t in ffmpeg_cpu],
        "emoret_cpu_s": [round(t, 2) for t in emoret_cpu],
        "pyav_every_frame_s": [round(t, 2) for t in pyav_times],
        "pyav_every_frame_cpu_s": [round(t, 2) for t in pyav_cpu],
        "ffmpeg_videos_per_s": round(len(videos) / ffmpeg_s, 1),
        "emoret_videos_per_s": round(len(videos) / emoret_s, 1),
        "ratio_ffmpeg_over_emoret": round(ffmpeg_s / emoret_s, 2),
        "cpu_ratio_ffmpeg_over_emoret": round(statistics.median(ffmpeg_cpu) / statistics.median(emoret_cpu), 2),
        "ratio_pyav_every_frame_over_emoret": round(pyav_s / emoret_s, 2),
        "cpu_ratio_pyav_every_frame_over_emoret": round(
            statistics.median(pyav_cpu) / statistics.median(emoret_cpu), 2),
        **{k: round(v, 3) for k, v in agreement.items()},
    }
    print(json.dumps(result))
    # Same frames: FFmpeg 5.1's swscale (Debian) and the FFmpeg 8 inside PyAV round a
    # little differently (about 1.4 levels on average); a neighbouring frame is 6+ off.
    ok = result["ratio_ffmpeg_over_emoret"] >= 1.0 and agreement["mean_abs_diff"] < 2.5
    print(f"ratio (ffmpeg 5.1 CLI time / emoret time): {result['ratio_ffmpeg_over_emoret']}; "
          f"(PyAV-every-frame time / emoret time, same FFmpeg 8.1): {result['ratio_pyav_every_frame_over_emoret']}  "
          f"{'OK' if ok else 'BELOW TARGET or frames differ'}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
