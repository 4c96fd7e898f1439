"""Frame stores and index directories under kills and corruption (``bench/faults.py --stores``).

Kills (``--store-kills`` each, half of them in setting A, half in B):

- ``extract-frames``, the issue's store: long videos extracted ``-n 2 --segment 3`` (A) or
  ``-n 4 --segment 2`` (B), the other setting's run (``--force``) killed with SIGKILL at a
  moment drawn over its clean run time (half the kills) or up to 0.1 s after its first
  frame file is rewritten (the other half, the issue's moment). Then the reader `embed` uses (every item of
  ``items_from_frames``, loaded): it must refuse (one line naming a file) or give, for each
  item, exactly the frames a clean run of that record's setting gives.
- ``index`` from embeddings over an index of the other setting, killed likewise; then a
  reader process (exact and graph search): the old index's answers or the new one's.

Corruptions (``--corruptions`` in all, drawn over the files): one to three flipped bits, a
truncation, or two lines (text) / rows or 64-byte blocks (binary) swapped, in each file of
an index with its query tower (`emoret search` then runs on it, exact and ``--method graph``,
as a process) and of a frame store (the embed reader). Each outcome is *refused* (exit 2
with one line naming the damaged file's directory or the file), *same* (the answer of the
undamaged files), or counted: *wrong* (a different answer, exit 0), *crashed* (a reader
killed by a signal, exit < 0, or a traceback), and after kills *half-written* (a file that
does not load) and *leaked* (temp files, staging directories, processes). Every count
should be zero.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from fault_runs import EMORET, ENV, ROOT, print_counts_table, run, run_and_kill, timed
from fault_tools import temp_files

STORE_SETTINGS = {"A": ["-n", "2", "--size", "16", "--segment", "3"], "B": ["-n", "4", "--size", "16", "--segment", "2"]}
QUERY = "a frightened red circle"
INDEX_READER = """
import sys, numpy as np, orjson
from emoret.errors import InputError
from emoret.index import store
try:
    index = store.open_index(sys.argv[1])
    queries = np.random.default_rng(0).standard_normal((3, index.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    out = {}
    for method in ("exact", "graph"):
        hits = index.search(queries, top=5, method=method)
        out[method] = [[(h.item.get("video_id"), round(h.score, 5)) for h in row] for row in hits]
except InputError as err:
    print(err, file=sys.stderr)
    sys.exit(2)
sys.stdout.write(orjson.dumps(out).decode())
"""


# --- readers ------------------------------------------------------------------------------

def read_store(out: Path) -> dict[tuple, np.ndarray] | str:
    """What `embed --frames` would embed: {(video_id, start, end): frames}, or the one-line refusal."""
    from emoret.embedding.sources import items_from_frames
    from emoret.errors import InputError

    try:
        items, _ = items_from_frames(out)
        found = {}
        for item in items:
            for record, frames in item.load():
                found[(record["video_id"], record.get("start"), record.get("end"))] = frames
        return found
    except InputError as err:
        return str(err)


def read_index(path: Path) -> tuple[int, str]:
    """(exit status, answers or the error line) of a reader process over the index at ``path``."""
    done = subprocess.run([sys.executable, "-c", INDEX_READER, str(path)], env=ENV, capture_output=True, text=True,
                          cwd=ROOT)
    return done.returncode, done.stdout if done.returncode == 0 else done.stderr.strip()


def read_search(path: Path) -> tuple[int, str]:
    """(exit status, output or error) of `emoret search` (numpy query path), exact then the graph."""
    outputs = []
    for extra in ([], ["--method", "graph"]):
        done = subprocess.run(EMORET + ["search", QUERY, "--index", str(path), "--top", "5", "--json", *extra],
                              env=ENV, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            return done.returncode, done.stderr.strip()
        outputs.append(done.stdout)
    return 0, "".join(outputs)


def judge(status: int, answer: str, allowed: list[str], counts: Counter, what: str) -> None:
    """Count a process reader's outcome: refused in one line, one of the ``allowed`` answers, or a fault."""
    if status < 0 or "Traceback" in answer or status not in (0, 2):
        counts["crashed"] += 1
        print(f"  {what}: crashed ({status}): {answer[-300:]}", file=sys.stderr)
    elif status == 2:
        counts["refused"] += 1 if len(answer.splitlines()) == 1 else 0
        counts["crashed"] += 0 if len(answer.splitlines()) == 1 else 1
    elif answer in allowed:
        counts["same"] += 1
    else:
        counts["wrong"] += 1
        print(f"  {what}: a wrong answer, exit 0", file=sys.stderr)


def judge_store(found: dict | str, references: list[dict], counts: Counter, what: str) -> None:
    if isinstance(found, str):
        counts["refused"] += 1
        return
    # A moment of one setting can have the other's seconds ([6, 8] in 3 s and in 2 s windows): told by its frames.
    known = {(key, frames.shape): frames for reference in references for key, frames in reference.items()}
    if all(np.array_equal(frames, known.get((key, frames.shape))) for key, frames in found.items()):
        counts["same"] += 1
    else:
        counts["wrong"] += 1
        print(f"  {what}: frames read that no clean run gives", file=sys.stderr)


# --- kills --------------------------------------------------------------------------------

def kill_extract(data: dict[str, Path], work: Path, kills: int, rng: random.Random) -> Counter:
    counts: Counter = Counter()
    references, seconds = {}, {}
    for setting, flags in STORE_SETTINGS.items():
        out = work / f"ref-store-{setting}"
        seconds[setting] = timed(["extract-frames", data["long"], "-o", out, *flags, "-j", "2"])
        references[setting] = read_store(out)
    out = work / "kill-store"
    run(["extract-frames", data["long"], "-o", out, *STORE_SETTINGS["B"], "-j", "2"])
    for number in range(kills):
        setting = "A" if number % 2 == 0 else "B"
        args = ["extract-frames", data["long"], "-o", out, *STORE_SETTINGS[setting], "-j", "2", "--force"]
        if number % 4 < 2:  # at a random moment
            killed, leaked = run_and_kill(args, rng.uniform(0, seconds[setting]))
        else:  # the moment: once a frame file has been rewritten (and up to 0.1 s later)
            killed, leaked = kill_after_a_rewrite(args, out, rng.uniform(0, 0.1))
        counts["kills"] += killed
        counts["leaked"] += leaked
        _half_written_frames(out, counts)
        judge_store(read_store(out), list(references.values()), counts, "extract-frames")
        done = run(args[:-1], check=False)  # the rerun finishes the store
        if done.returncode != 0 or not _same_store(read_store(out), references[setting]):
            counts["wrong"] += 1
            print(f"  extract-frames: the rerun failed or differs: {done.stderr.decode()[-300:]}", file=sys.stderr)
        counts["leaked"] += len(temp_files(out))
    return counts


def kill_after_a_rewrite(args: list[str], out: Path, delay: float, limit: float = 60.0) -> tuple[bool, int]:
    """Start, SIGKILL ``delay`` s after the first ``.npy`` in ``out`` is replaced; (killed, leaked processes)."""
    before = {path.name: path.stat().st_mtime_ns for path in out.glob("*.npy")}

    def rewritten() -> bool:
        return any(_mtime(path) != before.get(path.name) for path in out.glob("*.npy"))

    return run_and_kill(args, delay, ready=rewritten, limit=limit)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _same_store(found: Any, reference: Any) -> bool:
    return isinstance(found, dict) and isinstance(reference, dict) and found.keys() == reference.keys() and all(
        np.array_equal(found[k], reference[k]) for k in found)


def _half_written_frames(out: Path, counts: Counter) -> None:
    for path in out.glob("*.npy"):
        try:
            np.load(path)
        except (ValueError, OSError):
            counts["half-written"] += 1


def kill_index(data: dict[str, Path], work: Path, kills: int, rng: random.Random) -> Counter:
    counts: Counter = Counter()
    answers, seconds = {}, {}
    for setting in ("A", "B"):
        target = work / f"ref-index-{setting}"
        seconds[setting] = timed(["index", data["vec" + setting], "--out", target, "--ef-construction", "40"])
        answers[setting] = _exact_part(read_index(target)[1])
    target = work / "kill-index"
    run(["index", data["vecB"], "--out", target, "--ef-construction", "40"])
    for number in range(kills):
        setting = "A" if number % 2 == 0 else "B"
        args = ["index", data["vec" + setting], "--out", target, "--ef-construction", "40"]
        killed, leaked = run_and_kill(args, rng.uniform(0, seconds[setting]))
        counts["kills"] += killed
        counts["leaked"] += leaked
        status, answer = read_index(target)
        # The graph is rebuilt with threads (not the same bytes each build): the exact answers must match.
        judge(status, _exact_part(answer) if status == 0 else answer, list(answers.values()), counts, "index")
        run(args, check=False)
        counts["leaked"] += len(temp_files(target)) + len(list(target.parent.glob(f".{target.name}.new-*")))
    return counts


def _exact_part(answer: str) -> str:
    import orjson

    try:
        return orjson.dumps(orjson.loads(answer)["exact"]).decode()
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return answer


# --- corruption ---------------------------------------------------------------------------

def corrupt(path: Path, rng: random.Random) -> str:
    """Damage the file (drawn again until its bytes differ: two equal lines swapped are no damage)."""
    pristine = path.read_bytes()
    while True:
        kind, data = _damaged(bytearray(pristine), path, rng)
        if bytes(data) != pristine:
            path.write_bytes(bytes(data))
            return kind


def _damaged(data: bytearray, path: Path, rng: random.Random) -> tuple[str, bytearray]:
    kind = rng.choice(["bit flips", "truncation", "swap"])
    if kind == "bit flips" or len(data) < 130:
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(data))
            data[position] ^= 1 << rng.randrange(8)
        kind = "bit flips"
    elif kind == "truncation":
        del data[rng.randrange(len(data)):]
    else:
        data = _swapped(data, path, rng)
    return kind, data


def _swapped(data: bytearray, path: Path, rng: random.Random) -> bytearray:
    if path.suffix in (".jsonl", ".json"):
        lines = bytes(data).splitlines(keepends=True)
        if len(lines) >= 2:
            a, b = rng.sample(range(len(lines)), 2)
            lines[a], lines[b] = lines[b], lines[a]
            return bytearray(b"".join(lines))
    block, start = 64, 0
    if path.suffix == ".npy":  # rows of the array, after its header
        array = np.load(path, mmap_mode="r")
        block, start = int(array.strides[0]), int(array.offset)
    count = (len(data) - start) // block
    if count < 2:
        return _flipped(data, rng)
    a, b = sorted(rng.sample(range(count), 2))
    row_a, row_b = bytes(data[start + a * block:start + (a + 1) * block]), bytes(data[start + b * block:start + (b + 1) * block])
    data[start + a * block:start + (a + 1) * block], data[start + b * block:start + (b + 1) * block] = row_b, row_a
    return data


def _flipped(data: bytearray, rng: random.Random) -> bytearray:
    data[rng.randrange(len(data))] ^= 1
    return data


def corrupt_index(data: dict[str, Path], work: Path, trials: int, rng: random.Random) -> Counter:
    counts: Counter = Counter()
    pristine = work / "pristine-index"
    run(["embed", "--model", data["model"], "--frames", data["store"], "--out", work / "emb"])
    run(["index", work / "emb", "--out", pristine])  # records its model: with the query tower
    status, expected = read_search(pristine)
    assert status == 0, expected
    names = sorted(p.name for p in pristine.iterdir())
    for number in range(trials):
        name = names[number % len(names)]
        target = work / "corrupt-index"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(pristine, target)
        kind = corrupt(target / name, rng)
        counts[f"{name}: {kind}"] += 1
        counts["corruptions"] += 1
        status, answer = read_search(target)
        same = counts["same"]
        judge(status, answer.replace(str(target), str(pristine)), [expected], counts, f"{name} ({kind})")
        if counts["same"] > same:
            print(f"  {name} ({kind}): answered as the clean index", file=sys.stderr)
    return counts


def corrupt_store(data: dict[str, Path], work: Path, trials: int, rng: random.Random) -> Counter:
    counts: Counter = Counter()
    reference = read_store(data["store"])
    names = sorted(p.name for p in data["store"].iterdir())
    for number in range(trials):
        name = names[number % len(names)]
        target = work / "corrupt-store"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(data["store"], target)
        time.sleep(0.01)  # a write a moment later: its modification time differs, as any real one's would
        kind = corrupt(target / name, rng)
        counts[f"{name}: {kind}"] += 1
        counts["corruptions"] += 1
        same = counts["same"]
        judge_store(read_store(target), [reference], counts, f"{name} ({kind})")
        if counts["same"] > same:  # what changed no frame (a manifest's order or a field no reader uses)
            print(f"  {name} ({kind}): the frames read are the clean store's", file=sys.stderr)
    return counts


def prepare_stores(data: dict[str, Path], root: Path) -> None:
    """Long videos and a frame store of them (the setting A), added to ``data``."""
    from emoret.demo.long import make_long_videos
    from emoret.demo.scenes import make_scenes

    scenes = make_scenes(6, seed=5)
    make_long_videos(root / "long", scenes, clips_per_video=3, seed=5, width=64, height=48, fps=8, workers=1)
    data["long"] = root / "long"
    data["store"] = root / "store"
    run(["extract-frames", data["long"], "-o", data["store"], *STORE_SETTINGS["A"], "-j", "1"])


def run_store_classes(data: dict[str, Path], work: Path, kills: int, corruptions: int, seed: int) -> dict[str, Counter]:
    rng = random.Random(seed)
    prepare_stores(data, work / "stores-data")
    totals = {}
    for name, step, count in (("extract-frames kills", kill_extract, kills), ("index kills", kill_index, kills),
                              ("index corruptions", corrupt_index, corruptions - corruptions // 3),
                              ("frame store corruptions", corrupt_store, corruptions // 3)):
        started = time.monotonic()
        totals[name] = step(data, work, count, rng)
        print(f"{name}: {dict(totals[name])} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    return totals


def print_store_table(totals: dict[str, Counter]) -> int:
    keys = ["kills", "corruptions", "refused", "same", "wrong", "half-written", "leaked", "crashed"]
    overall = print_counts_table("class", totals, keys)
    kinds = sorted(k for k in overall if ": " in k)
    print("\ncorrupted: " + ", ".join(f"{k} {overall[k]}" for k in kinds))
    return overall["wrong"] + overall["half-written"] + overall["leaked"] + overall["crashed"]
