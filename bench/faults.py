"""Kill ``extract-frames``, ``embed``, ``index`` and ``train`` with SIGKILL at random moments, rerun each.

Each trial starts a command through the real CLI over an output that already holds
a previous, different version (the other of two settings), kills it (``kill -9``,
the main process only) at a moment drawn uniformly over that command's measured
run time, and looks at what the kill left:

- *half-written*: a file of the output that does not load (a cut ``.npy``, JSON, index);
- *wrong*: an output that loads but is neither the old version nor the new one
  (an embedding set or index read without complaint but mixing two runs, frames
  that differ from what their manifest says);
- *refused*: a set the readers refuse with one line (allowed: the self-checking
  embedding set after a kill between its swaps).

It then reruns the command to completion (``train``: ``--resume``) and counts a rerun
that fails or gives an output other than the clean run's as *wrong*, temporary files or
staging directories still there as *leaked temps*, and processes of the trial still
alive 5 s after the kill (extract-frames runs with 2 workers) as *leaked processes*.
Every count should be zero. The baseline is a clean, unkilled run of each command
(its output is the reference and its time spans the kill moments).

    python bench/faults.py                 # 20 kills of extract-frames and of index, 6 of embed and of train: 52
    python bench/faults.py --stores        # frame stores and indexes: 2 x 50 kills, 120 corruptions (store_faults.py)
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_runs import ROOT, print_counts_table, run, run_and_kill, timed  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from fault_tools import temp_files  # noqa: E402

# --- the outputs and how to compare them ---------------------------------------------------------


def read_frames(out: Path) -> dict[str, Any] | None:
    """{video_id: (record essentials, frames)}; raises on anything that does not load."""
    from emoret.records import read_jsonl
    from emoret.video.frames import frames_match, load_frames

    if not (out / "manifest.jsonl").exists():
        return None
    store = {}
    for record in read_jsonl(out / "manifest.jsonl"):
        frames = load_frames(out, record["video_id"]) if frames_match(out, record["video_id"], record) else None
        key = (record["n_frames"], tuple(record["frame_indices"]), record["sampling"]["size"])
        store[record["video_id"]] = (key, frames)
    for path in out.glob("*.npy"):
        np.load(path)  # every frame file loads (none half-written)
    return store


def same_frames(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(
        a[k][0] == b[k][0] and a[k][1] is not None and b[k][1] is not None and np.array_equal(a[k][1], b[k][1])
        for k in a
    )


def frames_right(store: dict | None, references: dict[str, Any]) -> bool:
    """After a kill, a record whose file is not the one it describes is allowed (the rerun redoes
    it); a record whose file passes as its own must hold exactly the frames its settings give."""
    if store is None:
        return True
    by_key = {}
    for reference in references.values():
        for video_id, (key, frames) in reference.items():
            by_key[(video_id, key)] = frames
    return all(frames is None or np.array_equal(frames, by_key[(video_id, key)])
               for video_id, (key, frames) in store.items())


def read_embeddings(name: Path):
    from emoret.embedding.files import load_embeddings

    if not name.with_suffix(".npy").exists() and not name.with_suffix(".meta.json").exists():
        return None
    loaded = load_embeddings(name)
    return loaded.vectors, [r["video_id"] for r in loaded.records]


def same_embeddings(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a[1] == b[1] and a[0].shape == b[0].shape and np.allclose(a[0], b[0], atol=1e-6)


def read_index(path: Path):
    from emoret.index.store import open_index

    if not path.exists():
        return None
    index = open_index(path)
    return np.array(index.vectors()), [r["video_id"] for r in index.items]


def read_checkpoint(out: Path):
    from safetensors.torch import load_file

    if not (out / "last").exists():
        return None
    return load_file(str(out / "last" / "model.safetensors"))


def same_weights(a, b) -> bool:
    import torch

    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


# --- the set-up ------------------------------------------------------------------------------------


def prepare(root: Path, n_videos: int) -> dict[str, Path]:
    from emoret.demo import synthetic
    from emoret.embedding.files import save_embeddings
    from emoret.model import load_model
    from emoret.model.tiny import build_tiny_clip

    paths, records = synthetic.make_videos(root / "videos", n_videos, seed=5, width=96, height=72, fps=10,
                                           duration=3.0, workers=1)
    captions = root / "captions.jsonl"
    import orjson

    captions.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    base = build_tiny_clip([r["caption"] for r in records], root / "base", seed=0)
    model = load_model(base, emotion=True, emotion_init="normal", num_frames=4)
    model.save(root / "model")
    rng = np.random.default_rng(0)
    for name, rows in (("vecA", 6000), ("vecB", 4000)):
        vectors = rng.normal(size=(rows, 64)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        save_embeddings(root / name, vectors, [{"video_id": f"{name}-{i}"} for i in range(rows)], {"kind": "videos"})
    return {"videos": root / "videos", "captions": captions, "base": Path(base), "model": root / "model",
            "vecA": root / "vecA", "vecB": root / "vecB"}


class Command:
    """One command under test: two settings (A, B) giving different outputs, and how to read them."""

    def __init__(self, name: str, args: Callable[[str, Path], list[str]], read: Callable[[Path], Any],
                 same: Callable[[Any, Any], bool], rerun: Callable[[str, Path], list[str]] | None = None,
                 fresh_each_trial: bool = False):
        self.name, self.args, self.read, self.same = name, args, read, same
        self.rerun = rerun or args
        self.fresh_each_trial = fresh_each_trial
        self.reference: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}


def commands(data: dict[str, Path], work: Path) -> list[Command]:
    frames_a, frames_b = work / "ref-frames-A", work / "ref-frames-B"
    settings = {"A": ["--num-frames", "6", "--size", "48"], "B": ["--num-frames", "4", "--size", "32"]}
    train_flags = ["--model", data["base"], "--captions", data["captions"], "--frames", frames_a, "--num-frames", "4",
                   "--batch-size", "4", "--threads", "1", "--save-every", "2", "--lr", "2e-3", "--lr-new", "2e-3"]
    return [
        Command("extract-frames",
                lambda s, out: ["extract-frames", data["videos"], "--out", out, *settings[s], "-j", "2", "--force"],
                read_frames, same_frames,
                rerun=lambda s, out: ["extract-frames", data["videos"], "--out", out, *settings[s], "-j", "2"]),
        Command("embed",
                lambda s, out: ["embed", "--model", data["model"], "--frames", frames_a if s == "A" else frames_b,
                                "--out", out / "emb"],
                lambda out: read_embeddings(out / "emb"), same_embeddings),
        Command("index",
                lambda s, out: ["index", data["vec" + s], "--out", out / "idx", "--ef-construction", "40"],
                lambda out: read_index(out / "idx"), same_embeddings),
        Command("train",
                lambda s, out: ["train", *train_flags, "--epochs", "3" if s == "A" else "2", "--out", out / "run"],
                lambda out: read_checkpoint(out / "run"), same_weights,
                rerun=lambda s, out: ["train", *train_flags, "--epochs", "3" if s == "A" else "2", "--out",
                                      out / "run"] + (["--resume"] if (out / "run" / "train_config.json").exists() else []),
                fresh_each_trial=True),
    ]


# --- a trial ---------------------------------------------------------------------------------------


def trial(command: Command, setting: str, out: Path, rng: random.Random, counts: Counter) -> None:
    if command.fresh_each_trial:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
    other = "B" if setting == "A" else "A"
    before = command.read(out)
    delay = rng.uniform(0, command.seconds[setting])
    killed, leaked = run_and_kill(command.args(setting, out), delay)
    counts["kills"] += killed
    counts["finished before the kill"] += not killed
    counts["leaked processes"] += leaked
    try:
        after = command.read(out)
    except Exception as err:
        from emoret.errors import InputError

        if isinstance(err, InputError) and command.name == "embed":
            counts["refused sets (allowed)"] += 1
        else:
            counts["half-written or unreadable"] += 1
            print(f"  {command.name}: unreadable after the kill: {type(err).__name__}: {err}", file=sys.stderr)
    else:
        if command.name == "extract-frames":
            if not frames_right(after, command.reference):
                counts["wrong"] += 1
                print("  extract-frames: after the kill, frames pass as valid that their record does not describe",
                      file=sys.stderr)
        elif command.name == "train":
            pass  # a mid-run checkpoint is neither reference; that it loaded is the check
        elif not any(command.same(after, version) for version in (before, command.reference[setting],
                                                                   command.reference[other])):
            counts["wrong"] += 1
            print(f"  {command.name}: after the kill, neither the old nor the new output", file=sys.stderr)
    done = run(command.rerun(setting, out), check=False)
    if done.returncode != 0:
        counts["wrong"] += 1
        print(f"  {command.name}: rerun failed: {done.stderr.decode().strip()[-500:]}", file=sys.stderr)
        return
    if not command.same(command.read(out), command.reference[setting]):
        counts["wrong"] += 1
        print(f"  {command.name}: rerun gave another output than the clean run", file=sys.stderr)
    temps = temp_files(out)
    counts["leaked temps"] += len(temps)
    for path in temps:
        print(f"  {command.name}: leaked {path}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="Kills of extract-frames and of index (quick to run).")
    parser.add_argument("--slow-kills", type=int, default=6, help="Kills of embed and of train (a minute a run here).")
    parser.add_argument("--commands", default="extract-frames,embed,index,train", help="Which commands to kill.")
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stores", action="store_true",
                        help="Instead: the frame-store and index classes (bench/store_faults.py): kills, then a reader, "
                             "and corruptions (bit flips, truncations, swapped lines or rows) of every file.")
    parser.add_argument("--store-kills", type=int, default=50, help="With --stores: kills of extract-frames and of index.")
    parser.add_argument("--corruptions", type=int, default=120, help="With --stores: corruptions in all.")
    args = parser.parse_args()
    if args.stores:
        stores(args)
    rng = random.Random(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="emoret-faults-") as tmp:
        work = Path(tmp)
        data = prepare(work / "data", args.videos)
        wanted = args.commands.split(",")
        # extract-frames's clean runs also make the frame stores that embed and train read.
        cmds = [c for c in commands(data, work) if c.name in wanted or c.name == "extract-frames"]
        kill_these = set(wanted)
        # Baseline: clean runs, the reference outputs and the span of the kill moments.
        for command in cmds:
            for setting in ("A", "B"):
                out = work / f"ref-{command.name}-{setting}"
                if command.name == "extract-frames":
                    out = work / f"ref-frames-{setting}"
                out.mkdir(parents=True, exist_ok=True)
                command.seconds[setting] = timed(command.args(setting, out))
                command.reference[setting] = command.read(out)
            print(f"{command.name}: clean run {command.seconds['A']:.1f} s (A), {command.seconds['B']:.1f} s (B)",
                  file=sys.stderr)
        totals: dict[str, Counter] = {}
        for command in cmds:
            if command.name not in kill_these:
                continue
            counts: Counter = Counter()
            out = work / f"trial-{command.name}"
            out.mkdir()
            if not command.fresh_each_trial:  # start from an existing output, the other setting's
                run(command.rerun("B", out))
            kills = args.slow_kills if command.name in ("embed", "train") else args.kills
            for number in range(kills):
                trial(command, "A" if number % 2 == 0 else "B", out, rng, counts)
            totals[command.name] = counts
            print(f"{command.name}: {dict(counts)}", file=sys.stderr)
    keys = ["kills", "finished before the kill", "half-written or unreadable", "wrong", "refused sets (allowed)",
            "leaked temps", "leaked processes"]
    overall = print_counts_table("command", totals, keys)
    print(f"\n{sum(c['kills'] for c in totals.values())} kills in {time.monotonic() - started:.0f} s; "
          f"load {open('/proc/loadavg').read().split()[0]}")
    bad = overall["half-written or unreadable"] + overall["wrong"] + overall["leaked temps"] + overall["leaked processes"]
    sys.exit(1 if bad else 0)


def stores(args) -> None:
    from store_faults import print_store_table, run_store_classes

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="emoret-store-faults-") as tmp:
        data = prepare(Path(tmp) / "data", 3)
        totals = run_store_classes(data, Path(tmp), args.store_kills, args.corruptions, args.seed)
    bad = print_store_table(totals)
    print(f"\n{time.monotonic() - started:.0f} s; load {open('/proc/loadavg').read().split()[0]}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
