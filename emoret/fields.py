"""The types of the record fields emoret reads: one schema, checked as each record is read.

Records pass between commands as JSON (captions, annotations, embedding rows, search
hits, feel output). A field that a command reads with a wrong type (a string where a
count belongs, ``"end": null``, a path that is a list, a start of 1e308 seconds) is bad
input: :func:`check_fields` names the field, and the reader adds the file and line, so
each command fails in one line instead of deep inside numpy, torch or PyAV. Fields not
named here pass through untouched; a known field may be absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

# A moment's time in seconds: far beyond any video (115 days), far below what a
# decoder's 64-bit timestamps or a float's rounding would turn into nonsense.
MAX_SECONDS = 1e7
# NRC counts come from one caption, and captions stop at 10,000 characters.
MAX_COUNT = 1_000_000

NRC_COUNT_FIELDS = ("joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation",
                    "positive", "negative", "neutral")  # fmt: skip
SENTIMENT_RANGES = {"neg": (0.0, 1.0), "neu": (0.0, 1.0), "pos": (0.0, 1.0), "compound": (-1.0, 1.0)}


class FieldError(ValueError):
    """A field of the wrong type; the reader turns it into an InputError with file and line."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def _video_id(value: Any) -> str | None:
    ok = value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    return None if ok else "a string"  # null: absent, as video_id_of reads it


def _seconds(value: Any) -> str | None:
    return None if _number(value) and 0 <= value <= MAX_SECONDS else f"a time in seconds (0 to {MAX_SECONDS:g})"


def _duration(value: Any) -> str | None:
    return None if value is None or _seconds(value) is None else f"a duration in seconds (0 to {MAX_SECONDS:g})"


def _score(value: Any) -> str | None:
    return None if _number(value) else "a finite number"


def _rank(value: Any) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else "a whole number"


def _count(value: Any) -> str | None:
    whole = _number(value) and float(value).is_integer() and 0 <= value <= MAX_COUNT
    return None if whole else "a count (a whole number, 0 or more)"


def _flag(value: Any) -> str | None:
    return None if value in (0, 1) and (isinstance(value, (int, bool)) or _number(value)) else "0 or 1"


def _sentiment(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "an object {neg, neu, pos, compound}"
    for key, (low, high) in SENTIMENT_RANGES.items():
        if key in value and not (_number(value[key]) and low <= value[key] <= high):
            return f"an object whose '{key}' is a number from {low:g} to {high:g}"
    return None


def _video_emotions(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "an object of emotion scores"
    for key, score in value.items():
        if not (_number(score) and 0 <= score <= 1):
            return f"an object of scores from 0 to 1 (its '{key}' is not)"
    return None


def _names(value: Any) -> str | None:
    return None if isinstance(value, list) and all(isinstance(v, str) for v in value) else "a list of names"


# field → a check returning None when the value is good, else what the field must be.
SCHEMA: dict[str, Callable[[Any], str | None]] = {
    "caption": lambda v: None if v is None else _string(v),  # absent or null: require_caption words it
    "video_id": _video_id,
    "video": lambda v: None if v is None else _string(v),  # null: absent, as video_id_of reads it
    "path": _string,
    "moment_id": _string,
    "query": _string,
    "start": _seconds,
    "end": _seconds,
    "duration": _duration,
    "score": _score,
    "rank": _rank,
    "emotion": _flag,
    "sentiment": _sentiment,
    "video_emotions": _video_emotions,
    "query_emotions": _names,
    **{name: _count for name in NRC_COUNT_FIELDS},
}


def check_fields(record: dict[str, Any]) -> None:
    """Raise FieldError naming the first known field of ``record`` whose value is of the wrong type."""
    for key, value in record.items():
        check = SCHEMA.get(key)
        if check is not None:
            wanted = check(value)
            if wanted is not None:
                raise FieldError(f"field '{key}' must be {wanted}, not {describe(value)}")
    start, end = record.get("start"), record.get("end")
    if start is not None and end is not None and end < start:
        raise FieldError(f"field 'end' ({end:g}) is before 'start' ({start:g})")


def describe(value: Any) -> str:
    """A short account of a JSON value for an error line: its kind, and itself when short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)[:24]
    if isinstance(value, str):
        return f"the string {value[:24]!r}" + ("..." if len(value) > 24 else "")
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


class VideoRecord:
    """The video a record (a caption, an embedding row, an index item, a hit) is of, read one
    way everywhere. Records name it by some of ``path`` (the file as found), ``source`` (the
    file a frame store was made from), ``video`` (a file name) and ``video_id``."""

    __slots__ = ("record",)

    def __init__(self, record: Mapping[str, Any]) -> None:
        self.record = record

    @property
    def key(self) -> str:
        """The video's identity: records with one key are moments of one video (its file, else its name)."""
        get = self.record.get
        return str(get("path") or get("video") or get("video_id") or get("source"))

    @property
    def file(self) -> str:
        """The video's file as the record names it ("" when it names none)."""
        get = self.record.get
        return str(get("path") or get("source") or get("video") or "")

    @property
    def name(self) -> str:
        """The video's short name: ``video_id``, else ``video`` ("" when it has neither)."""
        get = self.record.get
        return str(get("video_id") or get("video") or "")

    @property
    def label(self) -> str:
        """What to show a person for the video: its file, else its name."""
        return self.file or self.name
