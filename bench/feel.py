"""Video emotions on held-out synthetic videos: scene accuracy, and R@1 with the emotion term.

The model is the quickstart's (tiny CLIP trained from scratch on the 60-video demo set,
seed 0; ``examples/quickstart.sh`` is run when its model is missing). Two held-out sets
of new scenes are drawn from other seeds, none repeating a training scene's mood,
colour, shape and motion: *val* (seed 1) picks the emotion weight w, *test* (seed 2)
reports it. Everything goes through the commands (extract-frames, annotate, filter,
feel --no-faces, embed); the metrics are computed here.

- Scene top-1 accuracy: argmax of ``video_emotions`` against the scene's mood (9 classes,
  chance 1/9), for the trained model and, as the baseline, the untrained base model.
- Text→video R@1 of the held-out captions (5 a video) against the held-out videos, with
  ``score = similarity + w · match(caption emotions, video emotions)``, for all captions
  and the emotional ones (filter --thr 0.6: emotion = 1), and those naming an NRC emotion.
  Spread: a paired bootstrap over captions of the R@1 change (95 % interval). The
  "oracle" columns use each video's true mood as its emotions: the ceiling of the term.
- The ``--emotion E`` filter at the default threshold: precision and recall of "passes"
  against "the scene's mood is E", over the eight emotions.

    python bench/feel.py                 # writes under bench/out/feel/
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EMORET = [sys.executable, "-m", "emoret_cli"]
WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
BOOTSTRAP = 2000


def run(args: list[str], stdout=None) -> None:
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, stdout=stdout)


def quickstart_model(demo: Path) -> Path:
    if not (demo / "model" / "emoret.json").exists() and not (demo / "model" / "best").exists():
        run(["bash", "examples/quickstart.sh", demo])
    return demo / "model"


def held_out(out: Path, seed: int, n_videos: int, training: set[tuple]) -> Path:
    """New scenes (prefix ``held``) rendered, captioned, annotated and flagged, frames extracted as the quickstart does."""
    from emoret.demo.captions import captions_for
    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_video

    if (out / "flagged.jsonl").exists():
        return out
    scenes = [s for s in make_scenes(n_videos * 2, seed, prefix=f"held{seed}_") if _kind(s) not in training]
    by_mood: dict[str, list] = {}
    for scene in scenes:
        by_mood.setdefault(scene.mood, []).append(scene)
    per_mood = n_videos // len(by_mood)
    chosen = [scene for mood in sorted(by_mood) for scene in by_mood[mood][:per_mood]]
    (out / "videos").mkdir(parents=True, exist_ok=True)
    captions = []
    for scene in chosen:
        make_video(out / "videos" / f"{scene.video_id}.mp4", scene)
        captions += [{"video_id": scene.video_id, "caption": c} for c in captions_for(scene, seed)]
    (out / "scenes.json").write_text(json.dumps([asdict(s) for s in chosen], indent=1))
    (out / "captions.jsonl").write_text("".join(json.dumps(c) + "\n" for c in captions))
    run(EMORET + ["extract-frames", out / "videos", "--out", out / "frames", "--num-frames", "4", "--size", "64"],
        stdout=subprocess.DEVNULL)  # fmt: skip
    run(EMORET + ["annotate", out / "captions.jsonl", "-o", out / "annotated.jsonl"])
    run(EMORET + ["filter", out / "annotated.jsonl", "--all", "--thr", "0.6", "-o", out / "flagged.jsonl", "-q"])
    return out


def _kind(scene) -> tuple:
    return scene.mood, scene.colour, scene.shape, scene.motion


def feel_and_embed(model: Path, data: Path, tag: str) -> tuple[Path, Path, Path]:
    feel, videos, texts = data / f"feel-{tag}.jsonl", data / f"emb-{tag}" / "videos", data / f"emb-{tag}" / "texts"
    run(EMORET + ["feel", "--model", model, "--frames", data / "frames", "--no-faces", "-o", feel])
    # fp32 as the quickstart embeds: auto would pick bf16 on some CPUs and move the figures.
    run(EMORET + ["embed", "--model", model, "--frames", data / "frames", "--out", videos, "--precision", "fp32"])
    run(EMORET + ["embed", "--model", model, "--texts", data / "flagged.jsonl", "--out", texts, "--precision", "fp32"])
    return feel, videos, texts


def scene_accuracy(feel: Path, scenes: Path) -> tuple[float, dict[str, float]]:
    moods = {s["video_id"]: s["mood"] for s in json.loads(scenes.read_text())}
    right: dict[str, list[bool]] = {}
    for line in feel.read_text().splitlines():
        record = json.loads(line)
        scores = record["video_emotions"]
        truth = moods[record["video_id"]]
        right.setdefault(truth, []).append(max(scores, key=scores.get) == truth)
    every = [ok for oks in right.values() for ok in oks]
    return float(np.mean(every)), {mood: float(np.mean(oks)) for mood, oks in sorted(right.items())}


def retrieval(feel: Path, videos: str, texts: str):
    """(similarity, emotion match, target video of each caption, emotional mask)."""
    from emoret.embedding.files import load_embeddings
    from emoret.embedding.runner import text_emotions
    from emoret.evaluation import metrics
    from emoret.perception.join import attach, read_emotions
    from emoret.query.rerank import match_matrix

    text, video = load_embeddings(texts), load_embeddings(videos)
    attach(video.records, read_emotions(feel))
    rows, targets = metrics.match_captions(text.records, video.records)
    kept = [text.records[r] for r in rows]
    similarity = metrics.similarity_matrix(text.vectors[rows], video.vectors)
    match = match_matrix(text_emotions(kept), [r.get("video_emotions") for r in video.records])
    emotional = np.array([bool(r.get("emotion")) for r in kept])
    return similarity, match, np.asarray(targets), emotional


def _matched(texts: str, videos: str):
    from emoret.embedding.files import load_embeddings
    from emoret.embedding.runner import text_emotions
    from emoret.evaluation import metrics

    text, video = load_embeddings(texts), load_embeddings(videos)
    rows, _ = metrics.match_captions(text.records, video.records)
    return text_emotions([text.records[r] for r in rows]), video.records


def captions_naming_emotions(texts: str, videos: str) -> np.ndarray:
    """Captions whose NRC counts name an emotion: the ones the emotion term can move."""
    emotions, _ = _matched(texts, videos)
    return np.array([any(count > 0 for count in row) for row in emotions])


def _moods(scenes: Path, videos: str) -> np.ndarray:
    from emoret.embedding.files import load_embeddings

    moods = {s["video_id"]: s["mood"] for s in json.loads(scenes.read_text())}
    return np.array([moods[r["video_id"]] for r in load_embeddings(videos).records])


def oracle_match(texts: str, videos: str, scenes: Path) -> np.ndarray:
    """The match term with every video's true mood as its emotions: the most the term could give."""
    from emoret.perception import VIDEO_EMOTIONS
    from emoret.query.rerank import match_matrix

    emotions, records = _matched(texts, videos)
    truth = [dict(zip(VIDEO_EMOTIONS, np.eye(9)[VIDEO_EMOTIONS.index(m)], strict=False)) for m in _moods(scenes, videos)]
    assert len(truth) == len(records)
    return match_matrix(emotions, truth)


def ranks_at(similarity, match, targets, weight: float) -> np.ndarray:
    from emoret.evaluation.metrics import text_to_video_ranks

    return text_to_video_ranks(similarity + weight * match, targets)


def bootstrap_change(base: np.ndarray, other: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % interval of mean(other R@1) - mean(base R@1), resampling captions in pairs."""
    rng = np.random.default_rng(seed)
    hits = (other == 1).astype(float) - (base == 1).astype(float)
    draws = rng.integers(0, len(hits), size=(BOOTSTRAP, len(hits)))
    means = hits[draws].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def filter_quality(feel: Path, scenes: Path, threshold: float) -> tuple[float, float]:
    moods = {s["video_id"]: s["mood"] for s in json.loads(scenes.read_text())}
    from emoret.text.emotions import EMOTIONS

    tp = fp = fn = 0
    for line in feel.read_text().splitlines():
        record = json.loads(line)
        for emotion in EMOTIONS:
            passes = record["video_emotions"][emotion] >= threshold
            truth = moods[record["video_id"]] == emotion
            tp += passes and truth
            fp += passes and not truth
            fn += truth and not passes
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench/out/feel"))
    parser.add_argument("--videos", type=int, default=90, help="held-out videos a set (divided among the 9 moods)")
    args = parser.parse_args()
    out = Path(args.out)
    demo = out / "demo"
    model = quickstart_model(demo)
    base = demo / "base-model"
    training = {_kind(s) for s in _scenes(demo / "scenes.json")}
    from emoret.query.rerank import (
        DEFAULT_EMOTION_THRESHOLD,
        DEFAULT_EMOTION_WEIGHT,
    )

    print(f"load average at start {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    sets = {"val": held_out(out / "val", 1, args.videos, training), "test": held_out(out / "test", 2, args.videos, training)}
    results = {}
    for name, data in sets.items():
        feel, videos, texts = feel_and_embed(model, data, "trained")
        base_feel = data / "feel-base.jsonl"
        run(EMORET + ["feel", "--model", base, "--frames", data / "frames", "--no-faces", "-o", base_feel])
        accuracy, per_mood = scene_accuracy(feel, data / "scenes.json")
        base_accuracy, _ = scene_accuracy(base_feel, data / "scenes.json")
        similarity, match, targets, emotional = retrieval(feel, str(videos), str(texts))
        results[name] = (similarity, match, targets, emotional)
        n_videos = similarity.shape[1]
        print(f"\n[{name}] {n_videos} held-out videos, {len(targets)} captions ({emotional.sum()} emotional)")
        print(f"  scene top-1: trained {accuracy:.3f}, untrained base {base_accuracy:.3f} (chance {1 / 9:.3f})")
        print("  per mood: " + ", ".join(f"{m} {a:.2f}" for m, a in per_mood.items()))
        precision, recall = filter_quality(feel, data / "scenes.json", DEFAULT_EMOTION_THRESHOLD)
        print(f"  --emotion filter at {DEFAULT_EMOTION_THRESHOLD}: precision {precision:.3f}, recall {recall:.3f}")
        base_ranks = ranks_at(similarity, match, targets, 0.0)
        named = captions_naming_emotions(str(texts), str(videos))
        moods = _moods(data / "scenes.json", str(videos))
        top = similarity.argmax(axis=1)
        wrong = base_ranks != 1
        same = float(np.mean(moods[top[wrong]] == moods[targets[wrong]])) if wrong.any() else 0.0
        print(f"  top-1 mistakes at w = 0 that picked a video of the right mood: {same:.2f}")
        oracle = oracle_match(str(texts), str(videos), data / "scenes.json")
        print(f"  R@1: all {len(targets)} captions, emotional {emotional.sum()} (filter), naming an emotion {named.sum()} (NRC)")
        print(f"  {'w':>5}  {'all':>6}  {'emot.':>6}  {'named':>6}  {'change all (95% CI)':>24}  "
              f"{'change emotional (95% CI)':>26}  {'oracle: all':>11}  {'emot.':>6}")  # fmt: skip
        for weight in WEIGHTS:
            ranks = ranks_at(similarity, match, targets, weight)
            best = ranks_at(similarity, oracle, targets, weight)
            lo_all, hi_all = bootstrap_change(base_ranks, ranks)
            lo_emo, hi_emo = bootstrap_change(base_ranks[emotional], ranks[emotional])
            print(f"  {weight:>5}  {np.mean(ranks == 1):>6.3f}  {np.mean(ranks[emotional] == 1):>6.3f}  "
                  f"{np.mean(ranks[named] == 1):>6.3f}  "
                  f"{np.mean(ranks == 1) - np.mean(base_ranks == 1):>+8.3f} [{lo_all:+.3f}, {hi_all:+.3f}]  "
                  f"{np.mean(ranks[emotional] == 1) - np.mean(base_ranks[emotional] == 1):>+10.3f} [{lo_emo:+.3f}, {hi_emo:+.3f}]  "
                  f"{np.mean(best == 1):>11.3f}  {np.mean(best[emotional] == 1):>6.3f}")  # fmt: skip
    similarity, match, targets, emotional = results["val"]
    chosen = choose_weight(similarity, match, targets, emotional)
    print(f"\nw chosen on val: {chosen} (largest emotional R@1 gain with all-caption R@1 not lower); "
          f"emoret's default: {DEFAULT_EMOTION_WEIGHT}")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


def choose_weight(similarity, match, targets, emotional) -> float:
    base = ranks_at(similarity, match, targets, 0.0)
    best, best_gain = 0.0, 0.0
    for weight in WEIGHTS[1:]:
        ranks = ranks_at(similarity, match, targets, weight)
        gain = np.mean(ranks[emotional] == 1) - np.mean(base[emotional] == 1)
        if np.mean(ranks == 1) >= np.mean(base == 1) and gain > best_gain:
            best, best_gain = weight, gain
    return best


def _scenes(path: Path) -> list:
    from emoret.demo.scenes import Scene

    return [Scene(**s) for s in json.loads(path.read_text())]


if __name__ == "__main__":
    main()
