"""Embedding on the CPU: `emoret embed`'s paths against the plain loop a user would write.

Frames. Plain loop: transformers `CLIPModel.get_image_features` in fp32, batch 48, on
frames already preprocessed in memory. emoret: `embed_videos` over a frame store (uint8
frames on disk, loaded and preprocessed on a thread beside the model) at each
`--precision` and at several batch sizes, and over video files (decoded on the thread,
or in decode worker processes). 12 frames a video, 224 px, a ViT-B/32-shaped model with
random weights (bench/b32.py). Rounds alternate all runs; medians and min-max are
reported, with the cosine of each run's embeddings to emoret's fp32 ones.

Texts. Plain loop: `CLIPModel.get_text_features`, fp32, batch 64, tokenised beforehand;
emoret: `embed_texts` (tokenising included) at each precision, and the numpy text tower
that `emoret search` runs (bench/search.py has its queries/s).

The ceiling: this machine's GEMM rate in each arithmetic, measured first in the same run
(bench/gemm.py: fp32, bf16 where native, int8 where VNNI/AMX-INT8). Each path is reported
as a fraction of the rate of its arithmetic (the model's multiply-adds counted from its
shapes); int8 is `--precision int8` (ONNX Runtime, emoret/embedding/int8.py), its cache made
before the timing.

    python bench/embed.py                    # 8 videos x 12 frames, 3 rounds
    python bench/embed.py --videos 2 --rounds 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed_rounds(runs: dict[str, Callable[[], np.ndarray]], rounds: int) -> tuple[dict[str, list[float]], dict]:
    times: dict[str, list[float]] = {label: [] for label in runs}
    outputs = {}
    for _ in range(rounds):
        for label, run in runs.items():
            start = time.perf_counter()
            outputs[label] = run()
            times[label].append(time.perf_counter() - start)
    return times, outputs


GEMM: dict[str, float] = {}  # GFLOP/s by arithmetic, measured in main()


def arithmetic_of(label: str) -> str:
    """The arithmetic a run's label names: its resolved precision "(= X)", else fp32."""
    import re

    found = re.search(r"\(= (\w+)\)", label)
    return found.group(1) if found else "fp32"


def table(times: dict[str, list[float]], outputs: dict, count: int, unit: str, base: str, reference: str | None,
          gflop: float = 0.0) -> None:
    """Rates, min-max, vs the plain loop, share of the arithmetic's GEMM rate (``gflop`` a unit), cosine."""
    base_rate = count / statistics.median(times[base])
    print(f"| run | {unit}/s (median) | min-max | vs plain loop | GFLOP/s | of its GEMM rate | cosine to fp32 (min) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, seconds in times.items():
        rate = count / statistics.median(seconds)
        cosine = ""
        if reference is not None and label != base:
            cosine = f"{float(np.min(np.sum(outputs[label] * outputs[reference], axis=1))):.5f}"
        arithmetic = arithmetic_of(label)
        ceiling = GEMM.get(arithmetic)
        share = f"{100 * rate * gflop / ceiling:.0f} % of {arithmetic} {ceiling:.0f}" if ceiling and gflop else ""
        print(f"| {label} | {rate:.1f} | {count / max(seconds):.1f}-{count / min(seconds):.1f} | "
              f"{rate / base_rate:.2f}x | {rate * gflop:.0f} | {share} | {cosine} |", flush=True)


def vision_gflop(model) -> float:
    """Multiply-adds ×2 of one frame through the vision tower (patches, layers, projection)."""
    c = model.clip.vision_model.config
    patches = (c.image_size // c.patch_size) ** 2
    tokens, w = patches + 1, c.hidden_size
    layer = tokens * (4 * w * w + 2 * w * c.intermediate_size) + 2 * tokens * tokens * w
    return 2 * (patches * 3 * c.patch_size**2 * w + c.num_hidden_layers * layer + w * model.embed_dim) / 1e9


def text_gflop(model, texts: list[str]) -> float:
    """Multiply-adds ×2 a text through the text tower, averaged over ``texts`` (their own lengths)."""
    c = model.clip.text_model.config
    lengths = np.array([len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=77)["input_ids"]])
    w = c.hidden_size
    per_text = lengths * (4 * w * w + 2 * w * c.intermediate_size) + 2 * lengths**2 * w
    return float(2 * (c.num_hidden_layers * per_text.mean() + w * model.embed_dim) / 1e9)


def frame_runs(model, work: Path, args) -> None:
    import torch

    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_video
    from emoret.embedding import runner as embed
    from emoret.embedding import sources
    from emoret.embedding.int8 import choose_precision
    from emoret.video.frames import save_frames, write_manifest

    rng = np.random.default_rng(0)
    records = []
    for i in range(args.videos):
        save_frames(work / "frames", f"v{i}", rng.integers(0, 256, (12, 240, 320, 3), dtype=np.uint8))
        records.append({"video_id": f"v{i}", "n_frames": 12})
    write_manifest(work / "frames", records)
    items, _ = sources.items_from_frames(work / "frames")
    frames = torch.cat([model.preprocess_frames(rows[0][1]) for rows in (item.load() for item in items)])
    videos = work / "videos"
    videos.mkdir(exist_ok=True)
    for scene in make_scenes(args.videos, seed=0):  # 10 s of 320x240 at 30 fps, H.264
        make_video(videos / f"{scene.video_id}.mp4", scene, width=320, height=240, fps=30, duration=10.0)
    file_items = sources.items_from_files([videos], 12, 224)
    n = len(frames)

    def plain() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, n, 48):
                features = model.clip.get_image_features(pixel_values=frames[start : start + 48])
                out.append(getattr(features, "pooler_output", features))
        return torch.nn.functional.normalize(torch.cat(out), dim=-1).numpy()

    def store(precision: str, batch: int) -> Callable[[], np.ndarray]:
        chosen = choose_precision(precision, model, "videos", print)[0]
        return lambda: embed.embed_videos(model, items, batch, precision=chosen)[0]

    def files(workers: int) -> Callable[[], np.ndarray]:
        return lambda: embed.embed_videos(model, file_items, args.batch, precision="fp32", decode_workers=workers)[0]

    runs = {"plain loop fp32 b48": plain}
    runs.update({f"emoret frame store, --precision {p} (= {choose_precision(p, model, 'videos')[0]}), "
                 f"{args.batch} videos a batch": store(p, args.batch) for p in args.precisions})
    runs.update({f"emoret frame store, fp32, {b} videos a batch": store("fp32", b)
                 for b in args.batches if b != args.batch})
    runs.update({f"emoret video files, fp32, decode {'thread' if w == 0 else f'{w} processes'}": files(w)
                 for w in args.decode_workers})
    print(f"\n## frames: {args.videos} videos x 12 = {n} frames, 224 px; load {loadavg()}", flush=True)
    times, outputs = timed_rounds(runs, args.rounds)
    reference = f"emoret frame store, --precision fp32 (= fp32), {args.batch} videos a batch"
    table(times, outputs, n, "frames", "plain loop fp32 b48", reference if reference in outputs else None,
          vision_gflop(model))
    print(f"load {loadavg()}")


def text_runs(model, work: Path, args) -> None:
    import torch
    from b32 import captions

    from emoret.embedding import runner as embed
    from emoret.embedding.int8 import choose_precision
    from emoret.query import export as query_export
    from emoret.query.text_numpy import NumpyTextEncoder

    texts = [t for t in captions() if t.strip()][: args.texts]
    query_export.export_text_tower(model, work / "export")
    tower = NumpyTextEncoder.load(work / "export")
    tokens = model.tokenize(texts)

    def plain() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), 64):
                features = model.clip.get_text_features(input_ids=tokens["input_ids"][start : start + 64],
                                                        attention_mask=tokens["attention_mask"][start : start + 64])
                out.append(getattr(features, "pooler_output", features))
        return torch.nn.functional.normalize(torch.cat(out), dim=-1).numpy()

    runs: dict[str, Callable[[], np.ndarray]] = {"plain loop fp32 b64 (no emotion)": plain}
    for precision in args.precisions:
        chosen = choose_precision(precision, model, "texts")[0]
        runs[f"emoret embed_texts --precision {precision} (= {chosen})"] = (
            lambda chosen=chosen: embed.embed_texts(model, texts, None, 64, precision=chosen))
    runs["numpy text tower (search's), b64"] = lambda: np.concatenate(
        [tower.encode_queries(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    print(f"\n## texts: {len(texts)} MSR-VTT captions (no emotion), batch 64; load {loadavg()}", flush=True)
    times, outputs = timed_rounds(runs, args.rounds)
    reference = "emoret embed_texts --precision fp32 (= fp32)"
    table(times, outputs, len(texts), "texts", "plain loop fp32 b64 (no emotion)", reference if reference in outputs else None,
          text_gflop(model, texts))
    print(f"load {loadavg()}")


def trained_tiny_check(model_dir: Path, frames_dir: Path, texts: list[str], rounds: int) -> None:
    """bf16 against fp32 on a trained model (the demo's): time and the lowest cosine."""
    from emoret.embedding import runner as embed
    from emoret.embedding import sources
    from emoret.model import load_model

    model = load_model(model_dir)
    items, _ = sources.items_from_frames(frames_dir)
    runs = {f"video {p}": (lambda p=p: embed.embed_videos(model, items, 8, precision=p)[0]) for p in ("fp32", "bf16")}
    runs.update({f"text {p}": (lambda p=p: embed.embed_texts(model, texts, None, 64, precision=p)) for p in ("fp32", "bf16")})
    print(f"\n## trained tiny model {model_dir} ({len(items)} videos, {len(texts)} captions); load {loadavg()}")
    times, outputs = timed_rounds(runs, rounds)
    for kind in ("video", "text"):
        cosine = float(np.min(np.sum(outputs[f"{kind} bf16"] * outputs[f"{kind} fp32"], axis=1)))
        ratio = statistics.median(times[f"{kind} fp32"]) / statistics.median(times[f"{kind} bf16"])
        print(f"{kind}: bf16 / fp32 speed {ratio:.2f}x, lowest cosine to fp32 {cosine:.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="emoret's videos a batch (its default)")
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 2, 4], help="other batch sizes to time (fp32)")
    parser.add_argument("--decode-workers", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--precisions", nargs="+", default=["auto", "fp32", "bf16", "int8"])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--no-frames", action="store_true")
    parser.add_argument("--trained", type=Path, default=Path(__file__).resolve().parent / "out" / "train_demo",
                        help="bench/train_demo.py's output: its trained model is checked too, where present")
    args = parser.parse_args()

    import torch
    from b32 import build_b32
    from gemm import cpu_flags, rates

    from emoret.embedding import int8
    from emoret.embedding.precision import cpu_has_bf16, cpu_has_int8
    from emoret.model import load_model

    work = Path(tempfile.mkdtemp(prefix="emoret-embed-bench-"))
    model = load_model(build_b32(work / "model", num_frames=12))
    if "int8" in args.precisions or (cpu_has_int8() and "auto" in args.precisions):
        int8.towers(model, print)  # made (once) before any timing
    GEMM.update(rates())
    print(f"# ViT-B/32-shaped, random weights; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"CPU flags: {cpu_flags()}; CPU bf16: {cpu_has_bf16()}, int8: {cpu_has_int8()}; load {loadavg()}\n"
          f"# GEMM rates (bench/gemm.py, {2048}x{2048}): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in GEMM.items())
          + f"; ViT-B/32 frame {vision_gflop(model):.2f} GFLOP", flush=True)
    if not args.no_frames:
        frame_runs(model, work, args)
    text_runs(model, work, args)
    if (args.trained / "model" / "last").is_dir():
        from b32 import captions

        trained_tiny_check(args.trained / "model" / "last", args.trained / "frames",
                           [t for t in captions() if t.strip()][: args.texts], args.rounds)


if __name__ == "__main__":
    main()
