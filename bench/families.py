"""CLIP ViT-B/32 against ViT-B/16-shaped SigLIP 2 bases, random weights, in one run:
embed frames/s (each `--precision`) and the cold `emoret search` (numpy query path).

Models (no download): CLIP B/32 as bench/b32.py builds it; SigLIP 2 B/16 at
google/siglip2-base-patch16-224's shapes (model_type siglip: 768 wide, 12 layers, 224 px
in 16 px patches, 196 patches, a 256,000-row token table, 64 text positions); and, with
--naflex, the NaFlex SigLIP 2 B/16 (model_type siglip2, 256 patches of a 256 px square).
All with the meanpool video encoder and an emotion table, 12 frames a video. Rounds
alternate the models; medians and min-max are reported, with the load average.

    python bench/families.py                       # 4 videos x 12 frames, 3 rounds, 5 cold searches
    python bench/families.py --videos 2 --rounds 1 --cold-repeats 2 --no-naflex
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUERY = "a happy child laughs at a birthday party"
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_line() -> str:
    info = Path("/proc/cpuinfo").read_text()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    present = [flag for flag in CPU_FLAGS if flag in flags]
    import os

    return f"{name}, {os.cpu_count()} cores, flags: {' '.join(present) or 'none of ' + ' '.join(CPU_FLAGS)}"


def build_models(work: Path, naflex: bool) -> dict[str, Path]:
    from b32 import build_b32, captions

    from emoret.model import load_model
    from emoret.model.tiny_siglip import BASE_PATCH16, build_tiny_siglip

    # A --work of an earlier run keeps its models (building a B/16 takes minutes).
    done = work / "b32" / "emoret"
    models = {"CLIP B/32": done if (done / "emoret.json").exists() else
              build_b32(work / "b32", emotion=True, video_encoder="meanpool", num_frames=12)}
    variants = [("SigLIP 2 B/16 (224 px, siglip)", "siglip")] + ([("SigLIP 2 B/16 NaFlex (256 px)", "siglip2")] if naflex else [])
    for label, family in variants:
        if (work / family / "emoret.json").exists():
            models[label] = work / family
            continue
        base = build_tiny_siglip(captions(), work / f"{family}-base", family=family, seed=0, shape=BASE_PATCH16)
        model = load_model(base, emotion=True, emotion_init="normal", num_frames=12)
        models[label] = model.save(work / family)
        del model
    return models


def frame_store(work: Path, videos: int) -> Path:
    from emoret.video.frames import save_frames, write_manifest

    rng = np.random.default_rng(0)
    out = work / "frames"
    records = []
    for index in range(videos):
        video_id = f"v{index}"
        save_frames(out, video_id, rng.integers(0, 256, size=(12, 224, 224, 3), dtype=np.uint8))
        records.append({"video_id": video_id, "source": f"{video_id}.mp4", "n_frames": 12})
    write_manifest(out, records)
    return out


def embed_rates(models: dict[str, Path], frames: Path, rounds: int,
                work: Path) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Seconds a run of embed_videos over the store, per (model, precision), and the lowest
    cosine of ``auto``'s vectors to fp32's; writes each model's fp32 set."""
    import torch

    from emoret.embedding import files as set_files
    from emoret.embedding import runner, sources
    from emoret.embedding.precision import resolve_precision
    from emoret.model import load_model

    items, _ = sources.items_from_frames(frames)
    loaded = {label: load_model(path) for label, path in models.items()}
    times: dict[str, list[float]] = {}
    cosines: dict[str, float] = {}
    references: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for label, model in loaded.items():
            for precision in ("fp32", "auto"):
                start = time.perf_counter()
                with torch.inference_mode():
                    vectors, records = runner.embed_videos(model, items,
                                                           precision=resolve_precision(precision, model.device.type))
                times.setdefault(f"{label} | {precision}", []).append(time.perf_counter() - start)
                if precision == "auto":
                    cosines[label] = float(np.min(np.sum(vectors * references[label], axis=1)))
                if precision == "fp32":
                    references[label] = vectors
                    meta = set_files.model_meta(model, models[label])
                    set_files.save_embeddings(work / f"set-{model.family.name}-{model.embed_dim}", vectors, records,
                                              {**meta, "kind": "videos"})
    return times, cosines


def cold_searches(models: dict[str, Path], work: Path, repeats: int) -> dict[str, list[float]]:
    """Index each model's set (exporting its text tower), then time fresh `emoret search` processes, interleaved."""
    from emoret.model import load_model

    emoret = str(Path(sys.executable).with_name("emoret"))
    indexes = {}
    for label, path in models.items():
        model = load_model(path)
        vectors = work / f"set-{model.family.name}-{model.embed_dim}"
        indexes[label] = work / f"index-{model.family.name}-{model.embed_dim}"
        subprocess.run([emoret, "index", str(vectors), "--model", str(path), "--out", str(indexes[label])], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not (indexes[label] / "text_tower.json").exists():
            raise SystemExit(f"{label}: the index has no numpy text tower")
        del model
    times: dict[str, list[float]] = {label: [] for label in indexes}
    for _ in range(repeats):
        for label, index in indexes.items():
            start = time.perf_counter()
            subprocess.run([emoret, "search", QUERY, "--index", str(index), "--json", "--top", "3"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[label].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold-repeats", type=int, default=5)
    parser.add_argument("--naflex", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--work", type=Path, default=None, help="where the models go (default: a temporary dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emoret-families-") as temp:
        work = args.work or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        from emoret.embedding.precision import resolve_precision

        print(f"CPU: {cpu_line()}; --precision auto is {resolve_precision('auto', 'cpu')} here; load before: {loadavg()}",
              flush=True)
        models = build_models(work, args.naflex)
        frames = frame_store(work, args.videos)
        embeds, cosines = embed_rates(models, frames, args.rounds, work)
        count = args.videos * 12
        print(f"\nembed: {args.videos} videos x 12 frames of 224 px (a frame store), {args.rounds} rounds; load {loadavg()}")
        print("| model | --precision | frames/s (median) | min-max | cosine to fp32 (min) |")
        print("|---|---|---:|---:|---:|")
        for label, seconds in embeds.items():
            model, precision = label.split(" | ")
            cosine = f"{cosines[model]:.5f}" if precision == "auto" else ""
            print(f"| {model} | {precision} | {count / statistics.median(seconds):.1f} | "
                  f"{count / max(seconds):.1f}-{count / min(seconds):.1f} | {cosine} |", flush=True)
        colds = cold_searches(models, work, args.cold_repeats)
        print(f"\ncold `emoret search` (numpy query path, {args.videos}-item index), {args.cold_repeats} runs each, "
              f"interleaved; load {loadavg()}")
        print("| model | seconds (median) | min-max |")
        print("|---|---:|---:|")
        for label, seconds in colds.items():
            print(f"| {label} | {statistics.median(seconds):.2f} | {min(seconds):.2f}-{max(seconds):.2f} |")


if __name__ == "__main__":
    main()
