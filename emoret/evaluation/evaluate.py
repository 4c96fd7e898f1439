"""The seed's retrieval table from caption and video embeddings: what ``emoret eval`` computes.

The pair comes from two embedding sets (:func:`load_pair`) or from a model over captions
and a frame store (:func:`embed_pair`); :func:`evaluate` gives Recall@1/5/10 and the median
and mean rank, text→video and video→text, for all captions and the emotional ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emoret.embedding import files as set_files
from emoret.embedding import runner as embed
from emoret.embedding import sources
from emoret.embedding.encoder import Encoder
from emoret.evaluation import metrics
from emoret.index.build import Say, VideoEmotions, quiet


class CannotEvaluate(Exception):
    """Embeddings that cannot be compared: another model, another dimension, no caption's video."""


@dataclass
class Pair:
    """Caption and video embeddings with their records (rows in step)."""

    text_vectors: np.ndarray
    text_records: list[dict[str, Any]]
    video_vectors: np.ndarray
    video_records: list[dict[str, Any]]


def load_pair(texts: str | os.PathLike[str], videos: str | os.PathLike[str]) -> Pair:
    """The caption set ``texts`` and the video set ``videos`` (NAME or NAME.npy), of one model."""
    text = set_files.load_embeddings(texts, "texts")
    video = set_files.load_embeddings(videos, "videos")
    if text.meta.get("fingerprint") and video.meta.get("fingerprint") and text.meta["fingerprint"] != video.meta["fingerprint"]:
        raise CannotEvaluate(f"{text.name} and {video.name} were made by different models")
    return Pair(text.vectors, list(text.records), video.vectors, list(video.records))


def embed_pair(model: Encoder, captions: Sequence[dict[str, Any]], frames: str | os.PathLike[str],
               use_emotion: bool = True, on_total: Callable[[int], None] | None = None,
               on_step: Callable[[int], None] | None = None, say: Say = quiet) -> Pair:
    """Caption records and a frame store embedded with ``model``; ``on_total(n)`` then
    ``on_step(k)`` as k of n captions and videos are done; a video that fails is said and left out."""
    items, _ = sources.items_from_frames(frames)
    if on_total is not None:
        on_total(len(captions) + len(items))
    step = on_step or (lambda _: None)
    emotions = embed.text_emotions(captions) if use_emotion else None
    text_vectors = embed.embed_texts(model, [record["caption"] for record in captions], emotions, on_batch=step)
    video_vectors, video_records = embed.embed_videos(
        model, items, on_item=lambda: step(1),
        on_failure=lambda failure: say(f"emoret: {failure.record.get('video_id')}: {failure.reason}"),
    )
    return Pair(text_vectors, list(captions), video_vectors, list(video_records))


def evaluate(pair: Pair, video_emotions: VideoEmotions | str | os.PathLike[str] | None = None, emotion_weight: float | None = None,
             say: Say = quiet) -> dict[str, metrics.Report]:
    """The reports by name (``all``, and ``emotion`` where captions carry it). With the videos'
    emotions (``video_emotions``: ``emoret feel`` output or its path; or on their records) and a weight above 0: score =
    similarity + w·match, as search does. Notes (captions left out, the term off) go to ``say``."""
    if pair.text_vectors.shape[1] != pair.video_vectors.shape[1]:
        raise CannotEvaluate(f"caption embeddings have dimension {pair.text_vectors.shape[1]}, "
                             f"video embeddings {pair.video_vectors.shape[1]}")
    rows, targets = metrics.match_captions(pair.text_records, pair.video_records)
    if len(rows) == 0:
        raise CannotEvaluate("no caption's video_id matches a video's")
    if len(rows) < len(pair.text_records):
        say(f"eval: {len(pair.text_records) - len(rows)} captions have no video among the videos and are left out")
    kept = [pair.text_records[row] for row in rows]
    similarity = metrics.similarity_matrix(pair.text_vectors[rows], pair.video_vectors)
    similarity = with_emotion_term(similarity, kept, pair.video_records, video_emotions, emotion_weight, say)
    emotional = metrics.emotional_mask(kept)
    if emotional is None:
        say("eval: no record carries 'emotion' (run emoret filter --all); showing all captions only")
    return metrics.evaluate_all(similarity, targets, emotional)


def with_emotion_term(similarity: np.ndarray, captions: Sequence[dict[str, Any]], video_records: list[dict[str, Any]],
                      video_emotions: VideoEmotions | str | os.PathLike[str] | None, weight: float | None, say: Say = quiet) -> np.ndarray:
    """similarity + w · match where the videos' emotions are known (joined from ``video_emotions``
    onto ``video_records``, or already on them)."""
    from emoret.query import rerank

    if video_emotions is not None:
        from emoret.perception.join import attach, read_emotions

        if not isinstance(video_emotions, dict):
            video_emotions = read_emotions(video_emotions)
        missing = attach(video_records, video_emotions)
        if missing:
            say(f"eval: {missing} of {len(video_records)} videos have no record in --video-emotions")
    known = [record.get("video_emotions") for record in video_records]
    if not any(isinstance(value, dict) for value in known):
        if weight:
            raise CannotEvaluate("--emotion-weight needs video emotions: pass --video-emotions feel.jsonl")
        return similarity
    weight = rerank.DEFAULT_EMOTION_WEIGHT if weight is None else weight
    if weight == 0:
        say("eval: the emotion term is off (--emotion-weight 0, the default); pass e.g. --emotion-weight 0.1")
        return similarity
    say(f"eval: with the emotion term, score = similarity + {weight:g}·match")
    return similarity + weight * rerank.match_matrix(embed.text_emotions(captions), known)
