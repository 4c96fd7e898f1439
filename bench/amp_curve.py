"""`emoret train --amp bf16` on the CPU against fp32: the tiny demo's loss curve and time.

Three runs of the demo training (bench/train_demo.py's data and settings, run it first):
fp32 seed 0, bf16 seed 0, and fp32 seed 1. The seed-to-seed gap of the two fp32 runs is
the noise; the bf16 run's gap to fp32 at the same seed is the effect of bf16. Gaps are the
mean absolute difference of the per-step losses, over the whole run and over its last
tenth. R@1 is text→video on the training videos (measured on training data).

    python bench/train_demo.py          # once: makes bench/out/train_demo/
    python bench/amp_curve.py           # 3 trainings of 500 steps
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_demo import EMORET, ROOT, TRAIN_FLAGS, recall, run  # noqa: E402  (after the path is set)


def flags_with(**changes: str) -> list[str]:
    flags = list(TRAIN_FLAGS)
    for name, value in changes.items():
        option = "--" + name.replace("_", "-")
        if option in flags:
            flags[flags.index(option) + 1] = value
        else:
            flags += [option, value]
    return flags


def train(out: Path, data: Path, **changes: str) -> tuple[list[float], float]:
    command = EMORET + ["train", "--model", str(data / "demo" / "base-model"), "--captions", str(data / "flagged.jsonl"),
                        "--frames", str(data / "frames"), "--out", str(out)] + flags_with(**changes)  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    run(command)
    seconds = time.perf_counter() - start
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r], seconds


def gap(a: list[float], b: list[float], tail: bool = False) -> float:
    n = min(len(a), len(b))
    start = n - max(1, n // 10) if tail else 0
    return sum(abs(x - y) for x, y in zip(a[start:n], b[start:n], strict=True)) / (n - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / "bench/out/train_demo"))
    parser.add_argument("--epochs", default="500")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "flagged.jsonl").exists():
        sys.exit(f"{data}: run bench/train_demo.py first")
    runs = {
        "fp32 seed 0": dict(amp="off", seed="0"),
        "bf16 seed 0": dict(amp="bf16", seed="0"),
        "fp32 seed 1": dict(amp="off", seed="1"),
    }
    losses, seconds, r1 = {}, {}, {}
    for label, changes in runs.items():
        out = data / ("amp-" + label.replace(" ", "-"))
        losses[label], seconds[label] = train(out, data, epochs=args.epochs, **changes)
        r1[label] = recall(str(out), data / "flagged.jsonl", data / "frames")["R@1"]
        print(f"{label}: {len(losses[label])} steps, {seconds[label]:.1f} s wall, loss {losses[label][0]:.3f} -> "
              f"{losses[label][-1]:.3f}, train-set t2v R@1 {r1[label]:.3f}; load {os.getloadavg()[0]:.1f}", flush=True)
    noise, effect = ("fp32 seed 0", "fp32 seed 1"), ("fp32 seed 0", "bf16 seed 0")
    for name, (a, b) in (("seed to seed (noise)", noise), ("bf16 vs fp32, same seed", effect)):
        print(f"{name}: mean |loss gap| {gap(losses[a], losses[b]):.4f} over the run, "
              f"{gap(losses[a], losses[b], tail=True):.4f} over the last tenth")
    print(f"bf16 / fp32 wall time: {seconds['bf16 seed 0'] / seconds['fp32 seed 0']:.2f}x "
          f"(CPU bf16 instructions: {_cpu_bf16()})")


def _cpu_bf16() -> bool:
    from emoret.embedding.precision import cpu_has_bf16

    return cpu_has_bf16()


if __name__ == "__main__":
    main()
