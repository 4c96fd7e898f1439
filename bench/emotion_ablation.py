"""Does the emotion embedding help? An ablation on the held-out synthetic set.

Training set: the demo set (``make_demo``, seed 0). Test set: ``emoret.demo.heldout``
(videos never trained on, in groups that differ only in mood; emotional captions whose
only mood cue is a word no training caption uses, known only to the NRC lexicon).
Every variant trains the tiny model (``make_demo``'s base model) with the quickstart's
settings through ``emoret train``, once a seed, and is evaluated on the test set in the
seed project's table: R@1/5/10, MdR, MnR, text→video and video→text, all captions
("Emotion+Neutral") and the held-out emotional ones with their videos ("Emotion").

Variants: no emotion (the baseline); the seed's N(0,1) table; the zero-init table;
zero-init plus ``--emotion-loss``. The fine-tuning case that sank the seed: pre-train
without emotion on the demo set, fine-tune with emotion (N(0,1) or zero-init; and without,
as the baseline) on a second set (seed 1), evaluate on the same test set.

    python bench/emotion_ablation.py                     # writes under bench/out/emotion_ablation/
    python bench/emotion_ablation.py --seeds 0 1 2 --epochs 250 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EMORET = [sys.executable, "-m", "emoret_cli"]
DIRECTIONS = (("t2v", "Text→video"), ("v2t", "Video→text"))
SUBSETS = (("all", "Emotion+Neutral"), ("emotion", "Emotion"))
METRICS = ("R@1", "R@5", "R@10", "MdR", "MnR")


def quickstart_flags(epochs: int, batch: int) -> list[str]:
    """examples/quickstart.sh's training settings (epochs and batch as given)."""
    return ["--video-encoder", "vip", "--num-frames", "4", "--epochs", str(epochs), "--batch-size", str(batch),
            "--lr", "3e-3", "--lr-new", "2e-2", "--warmup", "0.05", "--weight-decay", "0.01",
            "--save-every", "100000", "--threads", "1"]  # fmt: skip


VARIANTS = {  # name -> extra train flags
    "no emotion": ["--no-emotion"],
    "N(0,1) table": ["--emotion", "--emotion-init", "normal"],
    "zero-init table": ["--emotion", "--emotion-init", "zero"],
    "zero-init + emotion loss": ["--emotion", "--emotion-init", "zero", "--emotion-loss", "{W}"],
}
FINETUNE_VARIANTS = {
    "pre-trained, fine-tuned without emotion": ["--no-emotion"],
    "pre-trained, fine-tuned with N(0,1) table": ["--emotion", "--emotion-init", "normal"],
    "pre-trained, fine-tuned with zero-init table": ["--emotion", "--emotion-init", "zero"],
}


def run(args: list[str], **kwargs) -> None:
    subprocess.run(args, check=True, cwd=ROOT, **kwargs)


def prepare(out: Path, n_train: int, n_test: int) -> dict[str, Path]:
    """Training set A (demo, seed 0) with its base model, set B (seed 1) to fine-tune on,
    and the test set apart from both; frames of all three."""
    from emoret.atomic import write_bytes_atomic
    from emoret.demo.heldout import make_test_set
    from emoret.demo.make import make_demo
    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_videos

    paths = {"a": out / "a", "b": out / "b", "test": out / "test"}
    if not (paths["a"] / "base-model").exists():
        make_demo(paths["a"], n_videos=n_train, seed=0)
    if not (paths["b"] / "captions.json").exists():
        _, records = make_videos(paths["b"] / "videos", n_train, seed=1)
        write_bytes_atomic(paths["b"] / "captions.json", (json.dumps(records, indent=1) + "\n").encode())
    if not (paths["test"] / "captions.json").exists():
        exclude = make_scenes(n_train, 0) + make_scenes(n_train, 1)
        make_test_set(paths["test"], n_test, seed=0, exclude=exclude)
    for name, folder in list(paths.items()):
        frames = out / f"frames-{name}"
        if not (frames / "manifest.jsonl").exists():
            run(EMORET + ["extract-frames", str(folder / "videos"), "--out", str(frames), "--num-frames", "4",
                          "--size", "64"], stdout=subprocess.DEVNULL)  # fmt: skip
        paths[f"frames-{name}"] = frames
    return paths


def train(model: Path, captions: Path, frames: Path, out: Path, flags: list[str], seed: int) -> Path:
    if (out / "best").exists():
        return out
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    with open(log, "wb") as handle:
        run(EMORET + ["train", "--model", str(model), "--captions", str(captions), "--frames", str(frames),
                      "--out", str(out), "--seed", str(seed)] + flags, stderr=handle)  # fmt: skip
    return out


def evaluate(model_dir: Path, captions: Path, frames: Path) -> dict:
    """The seed's table of one model on a caption file (``emotion`` flags mark the subset)."""
    import torch

    from emoret.evaluation.metrics import evaluate_all
    from emoret.model import load_model
    from emoret.text.emotions import record_emotion_vector
    from emoret.video.frames import load_frames
    from emoret.video.sampling import pick_frames

    torch.set_num_threads(1)
    model = load_model(str(model_dir))
    model.eval()
    records = json.loads(captions.read_text())
    videos = list(dict.fromkeys(Path(r["video"]).stem for r in records))
    row = {vid: i for i, vid in enumerate(videos)}
    owner = [row[Path(r["video"]).stem] for r in records]
    emotions = torch.tensor([record_emotion_vector(r) for r in records], dtype=torch.float32)
    with torch.inference_mode():
        pixels = torch.stack([model.preprocess_frames(pick_frames(load_frames(frames, v), model.num_frames))
                              for v in videos])  # fmt: skip
        video_emb = torch.cat([model.encode_video(pixels[i : i + 32]) for i in range(0, len(videos), 32)])
        texts = [r["caption"] for r in records]
        use = model.config.emotion
        text_emb = torch.cat([model.encode_text(texts[i : i + 64], emotions[i : i + 64] if use else None)
                              for i in range(0, len(texts), 64)])  # fmt: skip
    similarity = (text_emb @ video_emb.t()).numpy()
    flags = np.array([int(r.get("emotion", 0)) == 1 for r in records])
    return {name: report.as_dict() for name, report in evaluate_all(similarity, owner, flags).items()}


def mean_sd(values: list[float], percent: bool) -> str:
    scale = 100.0 if percent else 1.0
    array = np.asarray(values, dtype=float) * scale
    sd = float(array.std(ddof=1)) if len(array) > 1 else 0.0
    return f"{array.mean():.1f} ± {sd:.1f}"


def table(results: dict[str, list[dict]], title: str) -> str:
    """Markdown in the seed's layout: one block a direction, columns subset × metric."""
    lines = [f"**{title}** (mean ± sd over seeds; R@K in %)", ""]
    for direction, direction_name in DIRECTIONS:
        header = ["", *(f"{subset_name} {m}" for _, subset_name in SUBSETS for m in METRICS)]
        lines += [f"{direction_name}:", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for variant, runs in results.items():
            cells = [variant]
            for subset, _ in SUBSETS:
                for metric in METRICS:
                    cells.append(mean_sd([r[subset][direction][metric] for r in runs], metric.startswith("R@")))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench/out/emotion_ablation"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-videos", type=int, default=60)
    parser.add_argument("--test-videos", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=250, help="training epochs (the quickstart's 250)")
    parser.add_argument("--finetune-epochs", type=int, default=100)
    parser.add_argument("--emotion-loss", type=float, default=1.0, help="weight W of the zero-init + loss variant")
    parser.add_argument("--jobs", type=int, default=2, help="training runs at a time (one thread each)")
    parser.add_argument("--no-finetune", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    start = time.perf_counter()
    data = prepare(out, args.train_videos, args.test_videos)
    flags = quickstart_flags(args.epochs, min(60, args.train_videos))
    base = data["a"] / "base-model"

    def variant_flags(extra: list[str]) -> list[str]:
        return [f.replace("{W}", str(args.emotion_loss)) for f in extra]

    jobs = []  # (group, variant, seed, output directory, thunk)
    for seed in args.seeds:
        for name, extra in VARIANTS.items():
            target = out / "runs" / f"{name.replace(' ', '_')}-{seed}"
            jobs.append(("from scratch", name, seed, target,
                         lambda t=target, e=extra, s=seed: train(base, data["a"] / "captions.json", data["frames-a"],
                                                                 t, flags + variant_flags(e), s)))  # fmt: skip
    finetunes = []
    if not args.no_finetune:
        ft_flags = quickstart_flags(args.finetune_epochs, min(60, args.train_videos))
        for seed in args.seeds:
            # The pre-trained model is the seed's no-emotion run above (same data, settings and seed).
            pre = out / "runs" / f"no_emotion-{seed}"
            for name, extra in FINETUNE_VARIANTS.items():
                target = out / "runs" / f"ft-{name.split('with')[-1].strip().replace(' ', '_')}-{seed}"
                finetunes.append(("fine-tuned", name, seed, target,
                                  lambda e=extra, t=target, p=pre, s=seed: train(
                                      p, data["b"] / "captions.json", data["frames-b"], t, ft_flags + e, s)))  # fmt: skip
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for phase in (jobs, finetunes):  # fine-tuning starts from the no-emotion runs
            for future in [pool.submit(job[4]) for job in phase]:
                future.result()
    jobs += finetunes
    results: dict[str, dict[str, list[dict]]] = {"from scratch": {}, "fine-tuned": {}}
    for group, name, _seed, target, _ in jobs:
        report = evaluate(target, data["test"] / "captions.json", data["frames-test"])
        results[group].setdefault(name, []).append(report)
    seconds = time.perf_counter() - start
    summary = {"seeds": args.seeds, "epochs": args.epochs, "finetune_epochs": args.finetune_epochs,
               "train_videos": args.train_videos, "test_videos": args.test_videos, "emotion_loss": args.emotion_loss,
               "seconds": round(seconds, 1), "load_before": load_before, "load_after": os.getloadavg(),
               "results": results}  # fmt: skip
    (out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(table(results["from scratch"], f"Trained from scratch on the demo set, tested on {args.test_videos} "
                                         "held-out videos"))  # fmt: skip
    if results["fine-tuned"]:
        print(table(results["fine-tuned"], "Pre-trained without emotion (demo set), fine-tuned on a second set"))
    baseline = results["from scratch"]["no emotion"]
    for name, runs in results["from scratch"].items():
        gain = np.mean([r["emotion"]["t2v"]["R@1"] - b["emotion"]["t2v"]["R@1"] for r, b in zip(runs, baseline, strict=True)])
        all_gain = np.mean([r["all"]["t2v"]["R@1"] - b["all"]["t2v"]["R@1"] for r, b in zip(runs, baseline, strict=True)])
        print(f"{name}: held-out emotional t2v R@1 {100 * gain:+.1f} points, all queries {100 * all_gain:+.1f} "
              "points against no emotion (mean of the seeds' differences)")  # fmt: skip
    print(f"{len(jobs)} runs in {seconds:.0f} s; load average before {load_before[0]:.1f}, "
          f"after {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")  # fmt: skip


if __name__ == "__main__":
    main()
