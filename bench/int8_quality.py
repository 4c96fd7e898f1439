"""How close `--precision int8` comes to fp32: retrieval on the quickstart's held-out set, and
top-10 agreement on a ViT-B/32-shaped model.

Held-out: the quickstart's trained model (DIR/model) embeds the held-out captions and frames
(DIR/test, 60 videos the model never saw) in fp32, bf16 and int8; R@1/R@5 text→video and
video→text of each, and the lowest cosine to fp32. Run examples/quickstart.sh DIR first.
With --test-videos N, also on a larger held-out set drawn as the quickstart draws its own
(none of the training set's scenes; its first 60 are DIR/test's): at 60 videos one video is
1.7 points of video→text R@1, coarser than the 1-point bound it is checked against.

ViT-B/32 (random weights, bench/b32.py): 200 MSR-VTT captions as queries against 100
videos of 4 smooth random frames each, both sides embedded in fp32 and in int8: how many
queries get the same top 10.

    python bench/int8_quality.py --demo emoret-demo [--test-videos 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def larger_test_set(demo: Path, work: Path, videos: int) -> Path:
    """``videos`` held-out videos apart from DIR's training scenes, their frames extracted as the quickstart does."""
    import json
    import subprocess

    from emoret.demo.heldout import make_test_set
    from emoret.demo.scenes import Scene

    training = [Scene(**scene) for scene in json.loads((demo / "scenes.json").read_text())]
    test = work / f"test-{videos}"
    make_test_set(test, videos, seed=0, exclude=training)
    subprocess.run([sys.executable, "-m", "emoret_cli", "extract-frames", str(test / "videos"), "-o", str(test / "frames"),
                    "--num-frames", "4", "--size", "64"], check=True, stdout=subprocess.DEVNULL)
    return test


def held_out(demo: Path, test: Path) -> None:
    from emoret.embedding import runner as embed
    from emoret.embedding import sources
    from emoret.evaluation import evaluate
    from emoret.model import load_model
    from emoret.records import read_captions

    model = load_model(demo / "model")
    captions = read_captions(str(test / "captions.json"))
    items, _ = sources.items_from_frames(test / "frames")
    emotions = embed.text_emotions(captions)
    print(f"\n## held-out set {test}: {len(captions)} captions, {len(items)} videos; load {loadavg()}")
    print("| precision | T2V R@1 | T2V R@5 | V2T R@1 | V2T R@5 | lowest cosine to fp32 (texts, videos) "
          "| queries whose top 10 is fp32's (query tower alone) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    reference = None
    for precision in ("fp32", "bf16", "int8"):
        texts = embed.embed_texts(model, [record["caption"] for record in captions], emotions, precision=precision)
        videos, records = embed.embed_videos(model, items, precision=precision)
        report = evaluate.evaluate(evaluate.Pair(texts, list(captions), videos, records))["all"]
        t2v, v2t = report.as_dict()["t2v"], report.as_dict()["v2t"]
        if reference is None:
            reference = (texts, videos)
        cosines = [float(np.min(np.sum(a * b, axis=1))) for a, b in zip((texts, videos), reference, strict=True)]
        same = same_top(texts, reference[0], reference[1])
        print(f"| {precision} | {100 * t2v['R@1']:.1f} | {100 * t2v['R@5']:.1f} | {100 * v2t['R@1']:.1f} | "
              f"{100 * v2t['R@5']:.1f} | {cosines[0]:.5f}, {cosines[1]:.5f} | {same}/{len(texts)} |", flush=True)


def same_top(queries: np.ndarray, reference: np.ndarray, gallery: np.ndarray, top: int = 10) -> int:
    """How many ``queries`` find the same ``top`` items of ``gallery`` as their ``reference`` rows (as sets)."""
    tops = [np.argsort(-(rows @ gallery.T), axis=1, kind="stable")[:, :top] for rows in (queries, reference)]
    return sum(set(a) == set(b) for a, b in zip(*tops, strict=True))


def b32_agreement(work: Path, videos: int) -> None:
    from b32 import build_b32, captions

    from emoret.embedding import int8
    from emoret.embedding import runner as embed
    from emoret.model import load_model

    model = load_model(build_b32(work / "model", num_frames=4))
    int8.towers(model, print)
    frames = int8.probe_frames(model, videos)
    texts = [text for text in captions() if text.strip()][:200]
    out = {}
    for precision in ("fp32", "int8"):
        encoder = int8.int8_encoder(model) if precision == "int8" else model
        import torch

        with torch.inference_mode():
            gallery = np.concatenate([encoder.encode_video(frames[i : i + 8]).numpy() for i in range(0, videos, 8)])
        out[precision] = (embed.embed_texts(model, texts, None, precision=precision), gallery)
    tops = {p: np.argsort(-(t @ v.T), axis=1)[:, :10] for p, (t, v) in out.items()}
    same = sum(set(a) == set(b) for a, b in zip(tops["fp32"], tops["int8"], strict=True))
    text_cos = float(np.min(np.sum(out["fp32"][0] * out["int8"][0], axis=1)))
    video_cos = float(np.min(np.sum(out["fp32"][1] * out["int8"][1], axis=1)))
    print(f"\n## ViT-B/32-shaped, random weights: {len(texts)} captions against {videos} videos of 4 frames; "
          f"load {loadavg()}")
    print(f"same top 10 in int8 as in fp32: {same}/{len(texts)} ({100 * same / len(texts):.1f} %); lowest cosine "
          f"to fp32: texts {text_cos:.5f}, videos {video_cos:.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, help="an examples/quickstart.sh output directory")
    parser.add_argument("--test-videos", type=int, default=0,
                        help="also a larger held-out set of this many videos (with --demo)")
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--no-b32", action="store_true", help="skip the ViT-B/32-shaped agreement")
    args = parser.parse_args()
    from gemm import cpu_flags

    print(f"# CPU flags: {cpu_flags()}; load {loadavg()}")
    work = Path(tempfile.mkdtemp(prefix="emoret-int8-quality-"))
    if args.demo is not None:
        held_out(args.demo, args.demo / "test")
        if args.test_videos:
            held_out(args.demo, larger_test_set(args.demo, work, args.test_videos))
    if not args.no_b32:
        b32_agreement(work, args.videos)


if __name__ == "__main__":
    main()
