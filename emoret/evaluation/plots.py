"""t-SNE scatter plots of embeddings, one panel per emotion: that emotion against the rest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from emoret.atomic import atomic_path
from emoret.errors import InputError
from emoret.records import video_id_of
from emoret.text.emotions import EMOTIONS, emotion_vector

MARKERS = {"text": "o", "video": "^"}
PANEL_INCHES = (4.2, 4.0)
DPI = 110


def tsne_2d(vectors: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """[N, 2] t-SNE coordinates (cosine distances; perplexity capped for small N)."""
    from sklearn.manifold import TSNE

    n = len(vectors)
    if n < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {n}")
    perplexity = max(1.0, min(perplexity, (n - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca", random_state=seed).fit_transform(
        np.asarray(vectors, dtype=np.float32)
    )


def video_emotions(annotations: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """video_id → which emotions any of its captions has (counts > 0)."""
    out: dict[str, np.ndarray] = {}
    for record in annotations:
        key = str(video_id_of(record))
        present = np.asarray(emotion_vector(record)) > 0
        out[key] = out.get(key, np.zeros(len(EMOTIONS), bool)) | present
    return out


def strongest_video_emotion(video_emotions: Any) -> np.ndarray | None:
    """[8] booleans marking a video's strongest emotion (none when neutral leads); None if unknown."""
    from emoret.perception.aggregate import vector_of

    vector = vector_of(video_emotions)
    if vector is None:
        return None
    flags = np.zeros(len(EMOTIONS), dtype=bool)
    best = int(np.argmax(vector))
    if best < len(EMOTIONS):
        flags[best] = True
    return flags


def emotion_flags(records: Sequence[dict[str, Any]], by_video: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """[N, 8] booleans: a video's own strongest emotion (``video_emotions``), else the record's
    own NRC counts, else its video's captions'."""
    flags = np.zeros((len(records), len(EMOTIONS)), dtype=bool)
    for row, record in enumerate(records):
        own = strongest_video_emotion(record.get("video_emotions"))
        if own is not None:
            flags[row] = own
        elif any(name in record for name in EMOTIONS):
            flags[row] = np.asarray(emotion_vector(record)) > 0
        elif by_video is not None:
            flags[row] = by_video.get(str(video_id_of(record)), flags[row])
    return flags


# Image formats a figure is written in, by the output's suffix (matplotlib's own writers,
# or Pillow's for the bitmaps); no suffix: PNG.
FIGURE_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")


def figure_format(out_path: str | os.PathLike) -> str:
    """The format ``out_path``'s suffix names; InputError for a suffix no figure is written as
    (``t.txt`` would otherwise hold a PNG)."""
    suffix = Path(out_path).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    if suffix not in FIGURE_FORMATS:
        known = ", ".join("." + name for name in FIGURE_FORMATS)
        raise InputError(str(out_path), f"cannot write a figure as .{suffix}: name it with one of {known}")
    return suffix


def tsne_figure(points: np.ndarray, kinds: Sequence[str], flags: np.ndarray, emotions: Sequence[str],
                out_path: str | os.PathLike, title: str = "") -> None:
    """Write the figure (in the format ``out_path``'s suffix names): one panel per emotion,
    points with it highlighted over the rest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind_of = np.asarray(kinds)
    columns = min(4, len(emotions))
    rows = -(-len(emotions) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(PANEL_INCHES[0] * columns, PANEL_INCHES[1] * rows), squeeze=False)
    for axis, emotion in zip(axes.flat, emotions, strict=False):  # the grid may have spare panels
        has = flags[:, EMOTIONS.index(emotion)]
        for kind, marker in MARKERS.items():
            mine = kind_of == kind
            if not mine.any():
                continue
            rest, hit = mine & ~has, mine & has
            axis.scatter(points[rest, 0], points[rest, 1], s=10, c="#b0b0b0", marker=marker, alpha=0.6,
                         label=f"{kind}: rest ({rest.sum()})")
            axis.scatter(points[hit, 0], points[hit, 1], s=14, c="#d62728", marker=marker, alpha=0.85,
                         label=f"{kind}: {emotion} ({hit.sum()})")
        axis.set_title(emotion)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.legend(fontsize=7, loc="best")
    for axis in list(axes.flat)[len(emotions):]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(out_path) as tmp:
        figure.savefig(tmp, format=figure_format(out_path), dpi=DPI)
    plt.close(figure)
