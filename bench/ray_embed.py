"""`emoret embed --ray` measured: equality with the local path, scaling over simulated nodes,
the overhead of Ray at equal cores, and kills.

Data: synthetic H.264 videos (emoret.demo.synthetic) and a tiny random CLIP (4 frames of
32 px; --model for another), so that decoding and Ray's own costs, not the model, set the
pace. A "node" is a `ray.cluster_utils.Cluster` node on this machine.

- equality: the local path (fp32) against a two-node Ray run: rows, order, max |diff|.
- scaling: one node of 1 CPU (one actor, 1 torch thread, and decoding) against two nodes of
  1 CPU each (two actors): videos/s of a whole job of N videos, and past the start, from jobs
  of N and N/2 videos: N/2 / (t(N) - t(N/2)) leaves out Ray's start and the actors' model loading.
- overhead: the local path on 2 torch threads with its decode thread against Ray on one node
  of 2 CPUs (an actor of 1 CPU, decode tasks on the other): the same 2 cores.
- driver-kill: `emoret embed --ray` on a local Ray it starts, the driver killed -9 after
  the first shard: the Ray processes left, sampled up to 3 minutes after.
- kills: `ray start --head`, then repeated runs (`--ray auto`) during which a random decode
  worker or actor is killed -9 at a random moment, until --kills kills; every run's set must
  equal the clean run's, no temp file left; after `ray stop`, no Ray process left.

    python bench/ray_embed.py                        # all four, 48 videos, 3 rounds
    python bench/ray_embed.py --only kills --kills 20
    python bench/ray_embed.py --only driver-kill     # a local Ray's driver killed -9: what is left
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from emoret.cluster.embed import embed_on_ray  # noqa: E402
from emoret.cluster.jobs import RayOptions  # noqa: E402
from emoret.embedding import sets, shards  # noqa: E402
from emoret.embedding.files import load_embeddings, model_meta  # noqa: E402

TITLES = {"actor": b"ray::MapWorker(Map(ShardEmbedder))", "decode": b"ray::Map(decode_shard)"}


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def ray_processes() -> dict[int, bytes]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if cmdline.startswith(b"ray::") or b"/ray/" in cmdline or b"raylet" in cmdline:
            found[int(entry.name)] = cmdline
    return found


def prepare(root: Path, count: int, seconds: float, model: str | None) -> tuple[Path, Path]:
    """``count`` videos in root/videos, the first half of them (links) in root/half; the model."""
    from emoret.demo.synthetic import make_scenes, make_video
    from emoret.model.tiny import build_tiny_clip

    videos, half = root / "videos", root / "half"
    videos.mkdir()
    half.mkdir()
    for number, scene in enumerate(make_scenes(count, seed=7)):
        path = make_video(videos / f"{scene.video_id}.mp4", scene, width=320, height=240, fps=24, duration=seconds)
        if number < count // 2:
            (half / path.name).symlink_to(path)
    if model is not None:
        return videos, Path(model)
    words = ["a", "video", "of", "dog", "cat", "happy", "sad", "party", "storm"]
    return videos, build_tiny_clip(words, root / "tiny", seed=0)


def local_run(model_dir: Path, videos: Path, out: Path, batch: int) -> tuple[float, float]:
    """The local path: (seconds for the job, seconds from the first batch embedded to the last)."""
    from emoret.model.factory import ModelOptions, create_model

    start = time.perf_counter()
    model = create_model(str(model_dir), ModelOptions(device="cpu"))
    meta = {**model_meta(model, model_dir), "precision": "fp32", "sampling": "linspace"}
    items = sets.video_items(model, [videos])
    stamps: list[float] = []
    sets.video_set(model, items, out, meta, batch, precision="fp32", decode_workers=0,
                   on_item=lambda: stamps.append(time.perf_counter()))
    return time.perf_counter() - start, stamps[-1] - stamps[batch - 1]


def ray_run(model_dir: Path, videos: Path, out: Path, options: RayOptions, batch: int) -> tuple[float, float, int]:
    """A Ray job: (seconds for the job, seconds from the first shard written to the last, videos after it).

    Steady time is read from the shards' files as the actors wrote them (the driver sees
    finished shards in bursts), so Ray's start and the actors' model loading stay out of it.
    """
    start = time.perf_counter()
    written = embed_on_ray(str(model_dir), [videos], out=out, options=options, batch_size=batch, precision="fp32")
    seconds = time.perf_counter() - start
    stamps = sorted(p.stat().st_mtime_ns for p in shards.shards_dir(out).glob("*.meta.json"))
    return seconds, (stamps[-1] - stamps[0]) / 1e9, written.count - options.shard_size


def cluster(nodes: int, cpus: int, pin: bool = False):
    """A simulated cluster of ``nodes`` nodes of ``cpus`` logical CPUs; ``pin``: each node's
    processes confined to cores of their own (else every node may run on every core)."""
    from ray.cluster_utils import Cluster

    made = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus})
    for _ in range(nodes - 1):
        made.add_node(num_cpus=cpus)
    made.wait_for_nodes()
    if pin:
        pin_nodes(made, cpus)
    return made


def pin_nodes(made, cpus: int) -> None:
    """Node i's processes on cores [i·cpus, (i+1)·cpus): a "node of 1 CPU" then has one core, as a
    real one would, instead of the whole machine. The workers a raylet starts later inherit it."""
    from fault_tools import descendants

    count = os.cpu_count() or 1
    for number, node in enumerate(made.list_all_nodes()):
        cores = {(number * cpus + k) % count for k in range(cpus)}
        for _, process in node.live_processes():
            for pid in (process.pid, *descendants(process.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.sched_setaffinity(pid, cores)


HEADER = ("| run | videos/s, whole job of N videos (median) | min-max | videos/s past the start: (N - N/2) / "
          "(t(N) - t(N/2)) (median) | min-max |\n|---|---:|---:|---:|---:|")


def rates(label: str, count: int, run: Callable[[Path, Path], float], videos: Path, work: Path, rounds: int) -> None:
    """Whole jobs of ``count`` and of ``count // 2`` videos, alternating; the difference
    leaves out what every job pays once (Ray's start, actors loading the model)."""
    whole, past = [], []
    slug = "".join(c if c.isalnum() else "_" for c in label)  # whole: a rerun of one label's set finds it done
    for number in range(rounds):
        full = run(videos, work / f"{slug}-{number}-all")
        half = run(videos.with_name("half"), work / f"{slug}-{number}-half")
        whole.append(count / full)
        past.append((count - count // 2) / (full - half))
    print(f"| {label} | {statistics.median(whole):.2f} | {min(whole):.2f}-{max(whole):.2f} | "
          f"{statistics.median(past):.2f} | {min(past):.2f}-{max(past):.2f} |", flush=True)


def equality(model_dir: Path, videos: Path, work: Path, args) -> None:
    local_run(model_dir, videos, work / "local", args.batch)
    made = cluster(2, 1)
    try:
        options = RayOptions(made.address, actors=2, actor_cpus=0.5, decode_cpus=0.5, shard_size=args.shard_size)
        ray_run(model_dir, videos, work / "ray", options, args.batch)
    finally:
        made.shutdown()
    a, b = load_embeddings(work / "local"), load_embeddings(work / "ray")
    print(f"equality: rows {len(a.records)} / {len(b.records)}, same order {a.records == b.records}, "
          f"max |diff| {float(np.abs(a.vectors - b.vectors).max()):.3g}, "
          f"meta equal {all(a.meta[k] == b.meta[k] for k in ('model', 'fingerprint', 'precision', 'sampling'))}")


def scaling(model_dir: Path, videos: Path, work: Path, args) -> None:
    pinned = ", each node's processes pinned to a core of its own" if args.pin else ""
    print(f"\nscaling (N = {args.videos} videos, shards of {args.shard_size}{pinned}, load {loadavg()})\n{HEADER}")
    for nodes in (1, 2):
        made = cluster(nodes, 1, pin=args.pin)
        try:
            options = RayOptions(made.address, actors=nodes, actor_cpus=0.5, decode_cpus=0.5, shard_size=args.shard_size)
            rates(f"{nodes} node(s) of 1 CPU, {nodes} actor(s)", args.videos,
                  lambda source, out, options=options: ray_run(model_dir, source, out, options, args.batch)[0],
                  videos, work, args.rounds)
        finally:
            made.shutdown()


def overhead(model_dir: Path, videos: Path, work: Path, args) -> None:
    import torch

    print(f"\noverhead at 2 cores (N = {args.videos} videos, load {loadavg()})\n{HEADER}")
    torch.set_num_threads(2)
    rates("local path, 2 torch threads + decode thread", args.videos,
          lambda source, out: local_run(model_dir, source, out, args.batch)[0], videos, work, args.rounds)
    made = cluster(1, 2)
    try:
        # One actor of 1 torch thread leaves the other core to decoding (what a cheap model needs);
        # two actors of one thread each, decoding between them, use both cores for the model.
        for actors, actor_cpus, decode_cpus in ((1, 1.0, 1.0), (2, 0.75, 0.5)):
            options = RayOptions(made.address, actors=actors, actor_cpus=actor_cpus, decode_cpus=decode_cpus,
                                 shard_size=args.shard_size)
            rates(f"Ray, 1 node of 2 CPUs: {actors} actor(s) of 1 thread + decode tasks", args.videos,
                  lambda source, out, options=options: ray_run(model_dir, source, out, options, args.batch)[0],
                  videos, work, args.rounds)
    finally:
        made.shutdown()


def killer(stop: threading.Event, delay: float, kills: list[str], rng: random.Random) -> None:
    """After ``delay`` s, kill -9 one running decode worker or actor, chosen at random."""
    if stop.wait(delay):
        return
    while not stop.is_set():
        running = [(kind, pid) for pid, cmdline in ray_processes().items()
                   for kind, title in TITLES.items() if cmdline.startswith(title)]
        if running:
            kind, pid = rng.choice(running)
            try:
                os.kill(pid, signal.SIGKILL)
                kills.append(kind)
                return
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def kill_runs(model_dir: Path, videos: Path, work: Path, args) -> None:
    before = set(ray_processes())
    ray_bin = Path(sys.executable).with_name("ray")
    subprocess.run([ray_bin, "start", "--head", "--num-cpus", "2", "--include-dashboard", "false",
                    "--disable-usage-stats"], check=True, capture_output=True)
    rng = random.Random(args.seed)
    options = RayOptions("auto", actors=1, actor_cpus=1, decode_cpus=1, shard_size=args.shard_size)
    kills: list[str] = []
    outcomes = []
    try:
        clean = ray_run(model_dir, videos, work / "clean", options, args.batch)[0]
        reference = load_embeddings(work / "clean")
        while len(kills) < args.kills:
            out = work / f"k{len(outcomes)}"
            stop = threading.Event()
            thread = threading.Thread(target=killer, args=(stop, rng.uniform(0.5, clean * 0.9), kills, rng))
            thread.start()
            started = len(kills)
            try:
                ray_run(model_dir, videos, out, options, args.batch)
            finally:
                stop.set()
                thread.join()
            got = load_embeddings(out)
            temps = [p for p in out.parent.rglob("*.tmp")]
            same = got.records == reference.records and np.array_equal(got.vectors, reference.vectors)
            outcomes.append((len(kills) - started, same, len(temps)))
            shutil.rmtree(shards.shards_dir(out))
    finally:
        subprocess.run([ray_bin, "stop"], check=False, capture_output=True)
    time.sleep(5)
    left = set(ray_processes()) - before
    equal = sum(1 for _, same, _ in outcomes if same)
    print(f"\nkills: {len(kills)} ({kills.count('actor')} actors, {kills.count('decode')} decode workers) over "
          f"{len(outcomes)} runs; runs equal to the clean run: {equal}/{len(outcomes)}; temp files left: "
          f"{sum(t for _, _, t in outcomes)}; Ray processes after `ray stop`: {len(left)}; load {loadavg()}")


def driver_kill(model_dir: Path, videos: Path, work: Path, args) -> None:
    """`emoret embed --ray` starting a local Ray, its driver killed -9 once the first shard is
    written: which Ray processes are left, and for how long."""
    before = set(ray_processes())
    out = work / "driver-kill"
    job = subprocess.Popen([sys.executable, "-m", "emoret_cli", "embed", "--ray", "--model", str(model_dir),
                            str(videos), "--out", str(out), "--ray-shard-size", str(args.shard_size),
                            "--precision", "fp32"], cwd=Path(__file__).resolve().parents[1],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not any(shards.shards_dir(out).glob("*.meta.json")) and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.01)
    alive = job.poll() is None
    job.kill()
    job.wait()
    killed = time.monotonic()
    print(f"\ndriver kill -9 (running: {alive}), Ray processes left after:", flush=True)
    for wait in (1, 5, 15, 30, 60, 90, 120, 180):
        time.sleep(max(0.0, killed + wait - time.monotonic()))
        left = {pid: cmdline for pid, cmdline in ray_processes().items() if pid not in before}  # one scan
        titles = sorted({cmdline.split()[0].decode() for cmdline in left.values()})
        print(f"  {wait:3d} s: {len(left)} {' '.join(titles)}", flush=True)
        if not left:
            break
    print(f"manifest written: {(work / 'driver-kill.meta.json').exists()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=8.0, help="each video's length (320x240, 24 fps)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--shard-size", type=int, default=4)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="a model directory instead of the tiny random CLIP")
    parser.add_argument("--pin", action="store_true", help="scaling: pin each simulated node to a core of its own")
    parser.add_argument("--only", choices=["equality", "scaling", "overhead", "kills", "driver-kill"], nargs="*")
    args = parser.parse_args()
    flags = [f for f in Path("/proc/cpuinfo").read_text().split("flags")[1].split("\n")[0].split()
             if f.startswith(("avx", "amx"))]
    print(f"{os.cpu_count()} CPUs, flags {' '.join(flags)}; load at start {loadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
        work = Path(tmp)
        videos, model_dir = prepare(work, args.videos, args.seconds, args.model)
        for name, run in (("equality", equality), ("scaling", scaling), ("overhead", overhead), ("kills", kill_runs),
                          ("driver-kill", driver_kill)):
            if not args.only or name in args.only:
                run(model_dir, videos, work, args)


if __name__ == "__main__":
    main()
