"""Frame embedding on the CPU: `emoret embed`'s path against the plain loop a user would write.

Plain loop: transformers `CLIPModel.get_image_features` in fp32, batch 48, on frames
already preprocessed in memory. emoret: `embed_videos` over a frame store (uint8 frames
on disk, loaded and preprocessed on a thread beside the model) at each `--precision`,
12 frames a video, 224 px. The model is ViT-B/32-shaped with random weights
(bench/b32.py). Rounds alternate baseline and contenders; medians and min-max are
reported, with the cosine of each contender's video embeddings to the fp32 ones.

    python bench/embed.py                    # 8 videos x 12 frames, 3 rounds
    python bench/embed.py --videos 2 --rounds 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4, help="emoret's videos a batch")
    parser.add_argument("--precisions", nargs="+", default=["auto", "fp32", "bf16"])
    args = parser.parse_args()

    import torch
    from b32 import build_b32

    from emoret.model import load_model
    from emoret.retrieval import embed
    from emoret.retrieval.precision import cpu_has_bf16, resolve_precision
    from emoret.video.frames import save_frames, write_manifest

    work = Path(tempfile.mkdtemp(prefix="emoret-embed-bench-"))
    model = load_model(build_b32(work / "model", num_frames=12))
    rng = np.random.default_rng(0)
    records = []
    for i in range(args.videos):
        save_frames(work / "frames", f"v{i}", rng.integers(0, 256, (12, 240, 320, 3), dtype=np.uint8))
        records.append({"video_id": f"v{i}", "n_frames": 12})
    write_manifest(work / "frames", records)
    items, _ = embed.items_from_frames(work / "frames")
    frames = torch.cat([model.preprocess_frames(item.load()) for item in items])  # the plain loop's input
    n = len(frames)
    print(f"# ViT-B/32 random weights, {args.videos} videos x 12 frames = {n} frames, 224 px; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; CPU bf16 instructions: {cpu_has_bf16()}; "
          f"auto = {resolve_precision('auto', 'cpu')}; load {loadavg()}", flush=True)

    def plain() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, n, 48):
                features = model.clip.get_image_features(pixel_values=frames[start : start + 48])
                out.append(getattr(features, "pooler_output", features))
        return torch.cat(out).numpy()

    def contender(precision: str):
        chosen = resolve_precision(precision, "cpu")
        return lambda: embed.embed_videos(model, items, args.batch, precision=chosen)[0]

    runs = {"plain loop fp32 b48": plain, **{f"emoret --precision {p}": contender(p) for p in args.precisions}}
    times: dict[str, list[float]] = {label: [] for label in runs}
    outputs = {}
    for _ in range(args.rounds):
        for label, run in runs.items():
            start = time.perf_counter()
            outputs[label] = run()
            times[label].append(time.perf_counter() - start)
    reference = outputs["emoret --precision fp32"] if "emoret --precision fp32" in outputs else None
    base = n / statistics.median(times["plain loop fp32 b48"])
    print("| run | frames/s (median) | min-max | vs plain loop | cosine to fp32 (min) |")
    print("|---|---:|---:|---:|---:|")
    for label, seconds in times.items():
        rate = n / statistics.median(seconds)
        cosine = ""
        if reference is not None and label != "plain loop fp32 b48":
            cosine = f"{float(np.min(np.sum(outputs[label] * reference, axis=1))):.5f}"
        print(f"| {label} | {rate:.1f} | {n / max(seconds):.1f}-{n / min(seconds):.1f} | {rate / base:.2f}x | {cosine} |")
    print(f"load {loadavg()}")


if __name__ == "__main__":
    main()
