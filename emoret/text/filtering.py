"""Flag emotional captions: |VADER compound| above a threshold, or a keyword match."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from emoret.records import require_caption
from emoret.text import emotions


@dataclass
class FilterSummary:
    read: int = 0
    emotional: int = 0
    by_sentiment: int = 0
    by_keyword: int = 0
    annotated_here: int = 0
    emitted: int = 0
    kept_neutral: int = 0

    def describe(self, threshold: float) -> str:
        return (
            f"read {self.read}, emotional {self.emotional} "
            f"(|compound| > {threshold}: {self.by_sentiment}, keyword: {self.by_keyword}), "
            f"emitted {self.emitted}"
            + (f" ({self.kept_neutral} non-emotional for balance)" if self.kept_neutral else "")
            + (f"; annotated {self.annotated_here} on the fly" if self.annotated_here else "")
        )


def flag_records(
    numbered: Iterable[tuple[int, dict[str, Any]]],
    source: str,
    threshold: float,
    keywords: re.Pattern[str] | None,
    summary: FilterSummary,
) -> Iterator[dict[str, Any]]:
    """Each record with ``emotion`` set to 1 or 0, annotating those that lack ``sentiment``."""
    for line, record in numbered:
        require_caption(record, source, line)
        if not emotions.is_annotated(record):
            record = emotions.annotate_record(record)
            summary.annotated_here += 1
        by_sentiment, by_keyword = emotions.emotion_flags(record, threshold, keywords)
        summary.read += 1
        summary.by_sentiment += by_sentiment
        summary.by_keyword += by_keyword
        flagged = by_sentiment or by_keyword
        summary.emotional += flagged
        out = dict(record)
        out["emotion"] = int(flagged)
        yield out


def select(flagged: Iterable[dict[str, Any]], mode: str, summary: FilterSummary) -> Iterator[dict[str, Any]]:
    """``emotional`` keeps flagged records, ``neutral`` the others, ``all`` every record."""
    for record in flagged:
        if mode == "all" or (record["emotion"] == 1) == (mode == "emotional"):
            summary.emitted += 1
            yield record


def balance(flagged: Iterable[dict[str, Any]], seed: int, summary: FilterSummary) -> list[dict[str, Any]]:
    """Every emotional record plus as many non-emotional ones drawn at random, in input order.

    (The seed project's 34 + 34 emotional test set.) Holds the input in memory.
    """
    records = list(flagged)
    emotional = [i for i, r in enumerate(records) if r["emotion"] == 1]
    neutral = [i for i, r in enumerate(records) if r["emotion"] != 1]
    drawn = random.Random(seed).sample(neutral, min(len(emotional), len(neutral)))
    keep = sorted(emotional + drawn)
    summary.kept_neutral = len(drawn)
    summary.emitted = len(keep)
    return [records[i] for i in keep]
