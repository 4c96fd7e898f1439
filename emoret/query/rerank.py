"""Video emotions in search: keep the videos that show an emotion, and re-rank by the query's.

The score of a video for a query becomes ``similarity + w · match``, where ``match``
is the mean share of the video's emotion scores (``video_emotions``, from ``emoret
feel``) on the emotions the query names (its NRC counts, as the text side reads
them). A query that names no emotion gets no term, so its ranking is unchanged.

The index search only knows similarity, so the candidates are over-fetched and widened until
the result is what an exhaustive re-ranking would give: a video outside the
candidates has similarity below the last candidate's, so it can gain at most ``w``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from emoret.index import store
from emoret.perception import VIDEO_EMOTIONS
from emoret.perception.aggregate import vector_of

# Chosen with bench/feel.py (see bench/RESULTS.md): on held-out synthetic videos no weight
# raised R@1 on emotional captions without lowering it on all captions, so the term is off
# unless asked for (--emotion-weight).
DEFAULT_EMOTION_WEIGHT = 0.0
# Scores are a softmax over nine classes (1/9 ≈ 0.11 is "no preference"); a video passes
# `--emotion E` when at least this share of its emotion is E.
DEFAULT_EMOTION_THRESHOLD = 0.3
OVERFETCH = 10
MIN_CANDIDATES = 100
WIDEN = 4


def query_weights(query_emotions: Sequence[float] | None) -> np.ndarray:
    """[9] weights over VIDEO_EMOTIONS: the query's emotions present, summing to 1 (zeros if none)."""
    weights = np.zeros(len(VIDEO_EMOTIONS))
    if query_emotions is None:
        return weights
    present = np.asarray(query_emotions, dtype=np.float64)[: len(VIDEO_EMOTIONS) - 1] > 0
    if present.any():
        weights[: len(present)] = present / present.sum()
    return weights


def emotion_match(query_emotions: Sequence[float] | None, video_emotions: Any) -> float:
    """How much of the video's emotion lies on the query's emotions (0..1); 0 when either is unknown."""
    vector = vector_of(video_emotions)
    if vector is None:
        return 0.0
    return float(query_weights(query_emotions) @ vector)


def match_matrix(query_emotions: Sequence[Sequence[float]], video_emotions: Sequence[Any]) -> np.ndarray:
    """[queries, videos] emotion_match for every pair (videos without emotions score 0)."""
    queries = np.stack([query_weights(q) for q in query_emotions]) if len(query_emotions) else np.zeros((0, 9))
    videos = np.stack([_or_zeros(vector_of(v)) for v in video_emotions]) if len(video_emotions) else np.zeros((0, 9))
    return queries @ videos.T


def _or_zeros(vector: np.ndarray | None) -> np.ndarray:
    return np.zeros(len(VIDEO_EMOTIONS)) if vector is None else vector


def emotion_index(name: str) -> int:
    """The position of ``name`` in VIDEO_EMOTIONS; ValueError naming the choices."""
    key = name.strip().lower()
    if key not in VIDEO_EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}: choose from {', '.join(VIDEO_EMOTIONS)}")
    return VIDEO_EMOTIONS.index(key)


def passes(item: dict[str, Any], emotion: str | None, threshold: float) -> bool:
    """True without a filter; else whether the item's ``emotion`` score reaches ``threshold``."""
    if emotion is None:
        return True
    vector = vector_of(item.get("video_emotions"))
    return vector is not None and vector[emotion_index(emotion)] >= threshold


def rerank(hits: Sequence[store.Hit], query_emotions: Sequence[float] | None, weight: float,
           emotion: str | None = None, threshold: float = DEFAULT_EMOTION_THRESHOLD) -> list[store.Hit]:
    """Hits kept by the filter, scored ``similarity + weight · match``, best first, ranked from 1."""
    scored = [
        (hit.score + weight * emotion_match(query_emotions, hit.item.get("video_emotions")), order, hit)
        for order, hit in enumerate(hits)
        if passes(hit.item, emotion, threshold)
    ]
    scored.sort(key=lambda entry: (-entry[0], entry[1]))
    return [replace(hit, rank=rank, score=score) for rank, (score, _, hit) in enumerate(scored, start=1)]


def has_video_emotions(index: store.Index) -> bool:
    return any(isinstance(item.get("video_emotions"), dict) for item in index.items)


def search_with_emotions(index: store.Index, vectors: np.ndarray, query_emotions: Sequence[Sequence[float]] | None,
                         top: int, ef: int | None, weight: float, emotion: str | None = None,
                         threshold: float = DEFAULT_EMOTION_THRESHOLD, method: str = "auto") -> list[list[store.Hit]]:
    """Each query's ``top`` hits after the filter and the re-ranking, as if every item were scored."""
    vectors = np.atleast_2d(vectors)
    k = min(len(index), max(top * OVERFETCH, MIN_CANDIDATES))
    first = index.search(vectors, top=k, ef=ef, method=method)  # one pass for all the queries
    results = []
    for row, vector in enumerate(vectors):
        emotions = query_emotions[row] if query_emotions is not None else None
        results.append(_one(index, vector, first[row], emotions, top, ef, weight, emotion, threshold, method))
    return results


def _one(index: store.Index, vector: np.ndarray, candidates: list[store.Hit], emotions: Sequence[float] | None,
         top: int, ef: int | None, weight: float, emotion: str | None, threshold: float, method: str) -> list[store.Hit]:
    total = len(index)
    k = len(candidates)
    while True:
        ranked = rerank(candidates, emotions, weight, emotion, threshold)
        if k >= total:
            return ranked[:top]
        # An item outside the candidates scores below the last candidate's similarity + weight.
        bound = candidates[-1].score + max(weight, 0.0) if candidates else float("inf")
        if len(ranked) >= top and ranked[top - 1].score > bound:
            return ranked[:top]
        k = min(total, k * WIDEN)
        candidates = index.search(vector[None, :], top=k, ef=ef, method=method)[0]
