"""The t-SNE picture ``emoret tsne`` draws: embedding sets in, one panel per emotion, a figure out."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from emoret.embedding.files import load_embeddings
from emoret.evaluation import plots
from emoret.records import read_jsonl
from emoret.text.emotions import EMOTIONS

DEFAULT_PANELS = ("joy", "fear", "sadness", "anger")
PathLike = str | os.PathLike[str]


class CannotPlot(Exception):
    """Sets that cannot share one picture, or nothing in them to colour by."""


def _quiet(_: str) -> None:
    pass


def plot_tsne(out: PathLike, texts: PathLike | None = None, videos: PathLike | None = None,
              annotations: PathLike | None = None, panels: Sequence[str] = DEFAULT_PANELS,
              video_emotions: PathLike | None = None, seed: int = 0, perplexity: float = 30.0,
              say: Callable[[str], None] = _quiet) -> int:
    """Draw the caption set ``texts`` and/or the video set ``videos`` in 2-d, one panel an emotion of
    ``panels`` (points that have it against the rest), into ``out``; returns the points drawn.

    Videos take their captions' emotions from ``annotations``, or their own strongest from
    ``video_emotions`` (``emoret feel`` output)."""
    plots.figure_format(out)  # refused before the minutes of t-SNE, not after
    by_video = plots.video_emotions(read_jsonl(annotations)) if annotations else None
    kinds, records, vectors = _points(texts, videos)
    if video_emotions is not None:
        _attach(video_emotions, records, kinds, say)
    elif videos is not None and by_video is None:
        say("tsne: no --annotations: videos are marked by their own records' emotions only")
    flags = plots.emotion_flags(records, by_video)
    if not flags[:, [EMOTIONS.index(name) for name in panels]].any():
        # Every panel would be the same grey cloud.
        where = f"their records or {annotations}" if annotations else "their records (give --annotations annotated.jsonl)"
        raise CannotPlot(f"nothing to colour by: no point has {', '.join(panels)} in {where}")
    try:
        points = plots.tsne_2d(vectors, seed=seed, perplexity=perplexity)
    except ValueError as err:
        raise CannotPlot(str(err)) from None
    plots.tsne_figure(points, kinds, flags, list(panels), out, title=f"t-SNE of {len(vectors)} embeddings")
    return len(vectors)


def _points(texts: PathLike | None, videos: PathLike | None) -> tuple[list[str], list[dict[str, Any]], np.ndarray]:
    """Each point's kind ("text", "video") and record, and the vectors, captions first."""
    parts, kinds, records = [], [], []
    for kind, name in (("text", texts), ("video", videos)):
        if name is None:
            continue
        loaded = load_embeddings(name, f"{kind}s")
        parts.append(loaded.vectors)
        kinds += [kind] * len(loaded.vectors)
        records += loaded.records
    if len(parts) == 2 and parts[0].shape[1] != parts[1].shape[1]:
        raise CannotPlot(f"caption embeddings have dimension {parts[0].shape[1]}, video embeddings {parts[1].shape[1]}")
    return kinds, records, np.concatenate(parts)


def _attach(video_emotions: PathLike, records: list[dict[str, Any]], kinds: list[str], say: Callable[[str], None]) -> None:
    from emoret.perception.join import attach, read_emotions

    video_records = [record for record, kind in zip(records, kinds, strict=True) if kind == "video"]
    missing = attach(video_records, read_emotions(video_emotions))
    if missing:
        say(f"tsne: {missing} of {len(video_records)} videos have no record in --video-emotions")
