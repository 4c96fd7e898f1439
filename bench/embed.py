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


def table(times: dict[str, list[float]], outputs: dict, count: int, unit: str, base: str, reference: str | None) -> None:
    base_rate = count / statistics.median(times[base])
    print(f"| run | {unit}/s (median) | min-max | vs plain loop | cosine to fp32 (min) |")
    print("|---|---:|---:|---:|---:|")
    for label, seconds in times.items():
        rate = count / statistics.median(seconds)
        cosine = ""
        if reference is not None and label != base:
            cosine = f"{float(np.min(np.sum(outputs[label] * outputs[reference], axis=1))):.5f}"
        print(f"| {label} | {rate:.1f} | {count / max(seconds):.1f}-{count / min(seconds):.1f} | "
              f"{rate / base_rate:.2f}x | {cosine} |", flush=True)


def frame_runs(model, work: Path, args) -> None:
    import torch

    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_video
    from emoret.embedding import runner as embed
    from emoret.embedding import sources
    from emoret.embedding.precision import resolve_precision
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
        chosen = resolve_precision(precision, "cpu")
        return lambda: embed.embed_videos(model, items, batch, precision=chosen)[0]

    def files(workers: int) -> Callable[[], np.ndarray]:
        return lambda: embed.embed_videos(model, file_items, args.batch, precision="fp32", decode_workers=workers)[0]

    runs = {"plain loop fp32 b48": plain}
    runs.update({f"emoret frame store, --precision {p}, {args.batch} videos a batch": store(p, args.batch)
                 for p in args.precisions})
    runs.update({f"emoret frame store, fp32, {b} videos a batch": store("fp32", b)
                 for b in args.batches if b != args.batch})
    runs.update({f"emoret video files, fp32, decode {'thread' if w == 0 else f'{w} processes'}": files(w)
                 for w in args.decode_workers})
    print(f"\n## frames: {args.videos} videos x 12 = {n} frames, 224 px; load {loadavg()}", flush=True)
    times, outputs = timed_rounds(runs, args.rounds)
    reference = f"emoret frame store, --precision fp32, {args.batch} videos a batch"
    table(times, outputs, n, "frames", "plain loop fp32 b48", reference if reference in outputs else None)
    print(f"load {loadavg()}")


def text_runs(model, work: Path, args) -> None:
    import torch
    from b32 import captions

    from emoret.embedding import runner as embed
    from emoret.embedding.precision import resolve_precision
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
        chosen = resolve_precision(precision, "cpu")
        runs[f"emoret embed_texts --precision {precision}"] = (
            lambda chosen=chosen: embed.embed_texts(model, texts, None, 64, precision=chosen))
    runs["numpy text tower (search's), b64"] = lambda: np.concatenate(
        [tower.encode_queries(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    print(f"\n## texts: {len(texts)} MSR-VTT captions (no emotion), batch 64; load {loadavg()}", flush=True)
    times, outputs = timed_rounds(runs, args.rounds)
    reference = "emoret embed_texts --precision fp32"
    table(times, outputs, len(texts), "texts", "plain loop fp32 b64 (no emotion)", reference if reference in outputs else None)
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
    parser.add_argument("--precisions", nargs="+", default=["auto", "fp32", "bf16"])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--no-frames", action="store_true")
    parser.add_argument("--trained", type=Path, default=Path(__file__).resolve().parent / "out" / "train_demo",
                        help="bench/train_demo.py's output: its trained model is checked too, where present")
    args = parser.parse_args()

    import torch
    from b32 import build_b32

    from emoret.embedding.precision import cpu_has_bf16, resolve_precision
    from emoret.model import load_model

    work = Path(tempfile.mkdtemp(prefix="emoret-embed-bench-"))
    model = load_model(build_b32(work / "model", num_frames=12))
    print(f"# ViT-B/32-shaped, random weights; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}; CPU bf16 instructions: {cpu_has_bf16()}; "
          f"auto = {resolve_precision('auto', 'cpu')}", flush=True)
    if not args.no_frames:
        frame_runs(model, work, args)
    text_runs(model, work, args)
    if (args.trained / "model" / "last").is_dir():
        from b32 import captions

        trained_tiny_check(args.trained / "model" / "last", args.trained / "frames",
                           [t for t in captions() if t.strip()][: args.texts], args.rounds)


if __name__ == "__main__":
    main()
