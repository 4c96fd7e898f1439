"""Retrieval metrics of the seed project: R@K, median and mean rank, both directions.

Ranks are 1-based and ties count against the query: the rank of the true item is
1 + the number of other items scoring at least as high. A model that gives every
video the same score therefore ranks last, not first.

Several captions a video are allowed. Text→video ranks each caption against all
videos; video→text ranks a video by the best-ranked of its captions (the other
captions of the same video are not counted as competitors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from emoret.records import video_id_of

RECALL_AT = (1, 5, 10)


@dataclass(frozen=True)
class Summary:
    """R@1/5/10 (fractions), median and mean rank over a set of ranks."""

    r1: float
    r5: float
    r10: float
    median_rank: float
    mean_rank: float
    count: int

    @classmethod
    def of(cls, ranks: np.ndarray) -> "Summary":
        ranks = np.asarray(ranks, dtype=np.int64)
        if ranks.size == 0:
            nan = float("nan")
            return cls(nan, nan, nan, nan, nan, 0)
        r1, r5, r10 = (float(np.mean(ranks <= k)) for k in RECALL_AT)
        return cls(r1, r5, r10, float(np.median(ranks)), float(np.mean(ranks)), int(ranks.size))

    def as_dict(self) -> dict[str, float]:
        return {
            "R@1": self.r1,
            "R@5": self.r5,
            "R@10": self.r10,
            "MdR": self.median_rank,
            "MnR": self.mean_rank,
            "count": self.count,
        }


def text_to_video_ranks(similarity: np.ndarray, text_video: Sequence[int] | np.ndarray) -> np.ndarray:
    """Rank of each text's true video. ``similarity`` is [texts, videos]."""
    sim = np.asarray(similarity)
    target = np.asarray(text_video, dtype=np.int64)
    true_scores = sim[np.arange(len(target)), target][:, None]
    # The count of items scoring >= the true one includes the true one: it is the rank.
    ranks = (sim >= true_scores).sum(axis=1).astype(np.int64)
    # A NaN compares false with everything: a NaN true score ranks last, never first.
    ranks[np.isnan(true_scores[:, 0])] = sim.shape[1]
    return ranks


def video_to_text_ranks(similarity: np.ndarray, text_video: Sequence[int] | np.ndarray) -> np.ndarray:
    """Rank of each video's best-ranked caption among all texts.

    Videos without a caption are skipped: the result has one entry per video
    that has at least one caption, in video order.
    """
    sim = np.asarray(similarity)
    target = np.asarray(text_video, dtype=np.int64)
    n_videos = sim.shape[1]
    ranks = []
    for video in range(n_videos):
        own = target == video
        if not own.any():
            continue
        column = sim[:, video]
        best_true = np.nanmax(column[own]) if not np.isnan(column[own]).all() else np.nan
        if np.isnan(best_true):  # never reward a NaN: last place
            ranks.append(int((~own).sum()) + 1)
            continue
        ranks.append(1 + int(((column >= best_true) & ~own).sum()))
    return np.asarray(ranks, dtype=np.int64)


@dataclass(frozen=True)
class Report:
    """Both directions over one set of captions and videos."""

    t2v: Summary
    v2t: Summary

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {"t2v": self.t2v.as_dict(), "v2t": self.v2t.as_dict()}


def evaluate(similarity: np.ndarray, text_video: Sequence[int] | np.ndarray) -> Report:
    return Report(
        Summary.of(text_to_video_ranks(similarity, text_video)),
        Summary.of(video_to_text_ranks(similarity, text_video)),
    )


def evaluate_subset(similarity: np.ndarray, text_video: Sequence[int] | np.ndarray, keep_texts: np.ndarray) -> Report:
    """The evaluation restricted to some captions and the videos they describe.

    This is the seed's "Emotion" column: its test file filtered to the emotional
    captions, so both the queries and the gallery shrink.
    """
    keep = np.asarray(keep_texts, dtype=bool)
    target = np.asarray(text_video, dtype=np.int64)[keep]
    videos = np.unique(target)
    remap = np.full(np.asarray(similarity).shape[1], -1, dtype=np.int64)
    remap[videos] = np.arange(len(videos))
    sub = np.asarray(similarity)[keep][:, videos]
    return evaluate(sub, remap[target])


def similarity_matrix(texts: np.ndarray, videos: np.ndarray, block: int = 4096) -> np.ndarray:
    """Cosine similarities [texts, videos] of L2-normalised float32 rows."""
    texts = np.asarray(texts, dtype=np.float32)
    videos = np.asarray(videos, dtype=np.float32)
    out = np.empty((len(texts), len(videos)), dtype=np.float32)
    for start in range(0, len(texts), block):
        out[start : start + block] = texts[start : start + block] @ videos.T
    return out


def emotional_mask(records: Sequence[dict]) -> np.ndarray | None:
    """``emotion == 1`` of each caption record; None when no record carries ``emotion``."""
    if not any("emotion" in record for record in records):
        return None
    return np.array([int(record.get("emotion") or 0) == 1 for record in records], dtype=bool)


def evaluate_all(similarity: np.ndarray, text_video: Sequence[int] | np.ndarray, emotional: np.ndarray | None) -> dict[str, Report]:
    """The seed's table: all captions ("Emotion+Neutral") and, when flagged, the emotional ones."""
    reports = {"all": evaluate(similarity, text_video)}
    if emotional is not None and emotional.any():
        reports["emotion"] = evaluate_subset(similarity, text_video, emotional)
    return reports


def match_captions(text_records: Sequence[dict], video_records: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(rows of the captions whose video is present, each one's video row), by ``video_id``."""
    video_row: dict[str, int] = {}
    for row, record in enumerate(video_records):
        video_row.setdefault(str(video_id_of(record)), row)
    rows, targets = [], []
    for row, record in enumerate(text_records):
        target = video_row.get(str(video_id_of(record)))
        if target is not None:
            rows.append(row)
            targets.append(target)
    return np.asarray(rows, dtype=np.int64), np.asarray(targets, dtype=np.int64)


def format_table(reports: dict[str, Report]) -> str:
    """The seed's table: R@1/5/10 in percent, median and mean rank; T2V and V2T per subset."""
    titles = {"all": "Emotion+Neutral", "emotion": "Emotion"}
    names = [name for name in ("all", "emotion") if name in reports]
    width = 9
    head = f"{'':8}" + "".join(f"{titles[name]:<{2 * width}}" for name in names)
    sub = f"{'':8}" + "".join(f"{'T2V':>{width - 1}} {'V2T':>{width - 1}} " for _ in names)
    lines = [head.rstrip(), sub.rstrip()]
    rows = (("R@1", "r1", True), ("R@5", "r5", True), ("R@10", "r10", True), ("MdR", "median_rank", False), ("MnR", "mean_rank", False))
    for label, attr, percent in rows:
        cells = []
        for name in names:
            for summary in (reports[name].t2v, reports[name].v2t):
                value = getattr(summary, attr)
                cells.append(f"{value * 100 if percent else value:>{width - 1}.1f}")
        lines.append(f"{label:8}" + " ".join(cells))
    counts = ", ".join(
        f"{titles[name]}: {reports[name].t2v.count} captions, {reports[name].v2t.count} videos" for name in names
    )
    lines.append(f"({counts})")
    return "\n".join(lines)
