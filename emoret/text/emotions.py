"""Sentiment (VADER) and NRC emotion counts for captions and queries, offline.

The NRC counts reproduce the original NRCLex tool's: TextBlob-style words (Punkt
sentences, Treebank tokens, leading/trailing punctuation stripped, nothing
lemmatized) looked up as written in the NRC lexicon that nrclex ships. That lexicon is
all lowercase, so a capitalised word ("Baby", "MOUNTAIN") counts nothing, as it did for
the seed project; ``lowercase=True`` looks words up lowercased instead.
"""

from __future__ import annotations

import io
import os
import re
import string
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from emoret.atomic import write_bytes_atomic
from emoret.text import vader_fast

# Row order of the emotion embedding table and of every emotion vector.
EMOTIONS: tuple[str, ...] = ("joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation")
POLARITIES: tuple[str, ...] = ("positive", "negative")
NRC_KEYS: tuple[str, ...] = EMOTIONS + POLARITIES + ("neutral",)
SENTIMENT_KEYS: tuple[str, ...] = ("neg", "neu", "pos", "compound")

# The seed project's manual rescue list, matched as substrings (" anger" keeps its space).
DEFAULT_KEYWORDS = (
    "happy|sad|afraid|fear|surprise|joy|disgust|annoy| anger|angry|excite|excited|exciting|"
    "scare|scared|scary|fright|frighten|frightened|frightening|fearful|fearless|fearfully"
)
DEFAULT_THRESHOLD = 0.6

_VADER_RESOURCE = "sentiment/vader_lexicon.zip"
_SENTENCE_END = re.compile(r"[.?!]")
# A token Treebank splits only at its edges: a word (letters, digits, inner hyphens), a
# contraction it splits off as written (its list is case-sensitive), then punctuation it
# splits off or words() strips ("." only where no contraction precedes: Treebank splits a
# period off only at the end of a sentence). Words it splits itself are _TREEBANK_SPLITS.
_SIMPLE_TOKEN = re.compile(
    r"(?P<core>[A-Za-z0-9]+?(?:-[A-Za-z0-9]+)*)"
    r"(?:(?P<contraction>'s|'S|'m|'M|'d|'D|'ll|'LL|'re|'RE|'ve|'VE|n't|N'T)[,;:!?]*|[.,;:!?]*)"
)
_TREEBANK_SPLITS = frozenset({"cannot", "gimme", "gonna", "gotta", "lemme", "wanna"})


def cache_dir() -> Path:
    """emoret's cache: ``$EMORET_CACHE``, else ``$XDG_CACHE_HOME/emoret``, else ``~/.cache/emoret``."""
    if os.environ.get("EMORET_CACHE"):
        return Path(os.environ["EMORET_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "emoret"


def ensure_vader_lexicon() -> None:
    """Make nltk's ``vader_lexicon`` loadable without a network.

    nltk's own copy wins where installed; otherwise the lexicon shipped inside the
    vaderSentiment package is zipped into emoret's cache, which goes on nltk's path.
    """
    import nltk

    try:
        nltk.data.find(_VADER_RESOURCE)
        return
    except LookupError:
        pass
    data_dir = cache_dir() / "nltk_data"
    target = data_dir / _VADER_RESOURCE
    if not target.exists():
        from importlib import resources

        lexicon = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("vader_lexicon/vader_lexicon.txt", lexicon)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, buffer.getvalue())
    if str(data_dir) not in nltk.data.path:
        nltk.data.path.append(str(data_dir))


@lru_cache(maxsize=1)
def vader() -> Any:
    """nltk's SentimentIntensityAnalyzer, built once per process."""
    ensure_vader_lexicon()
    from nltk.sentiment.vader import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    vader_fast.install(analyzer)
    return analyzer


@lru_cache(maxsize=1)
def _tokenizers() -> tuple[Any, Any]:
    from nltk.tokenize import TreebankWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer(), TreebankWordTokenizer()


@lru_cache(maxsize=1)
def nrc_lexicon() -> dict[str, list[str]]:
    """The NRC word → affects lexicon that nrclex ships."""
    from nrclex import NRCLex

    return NRCLex().__lexicon__


def words(text: str) -> list[str]:
    """TextBlob-style words: Punkt sentences, Treebank tokens, end punctuation stripped."""
    simple = simple_words(text)
    if simple is not None:
        return simple
    sentences_tok, word_tok = _tokenizers()
    # An untrained Punkt only splits at . ? !: without them the text is one sentence.
    sentences = sentences_tok.tokenize(text) if _SENTENCE_END.search(text) else [text]
    out: list[str] = []
    punctuation = string.punctuation
    for sentence in sentences:
        for token in word_tok.tokenize(sentence):
            stripped = token.strip().strip(punctuation)
            if stripped:
                out.append(token if token.startswith("'") else stripped)
    return out


def simple_words(text: str) -> list[str] | None:
    """:func:`words` without nltk (seconds to import) for text whose tokens Treebank
    cannot split other than at its edges: words of letters, digits and inner hyphens,
    an optional contraction ('s, n't, ...), end punctuation. None for anything else.

    tests/test_emotions.py checks this against the nltk path on generated text.
    """
    if any(char.isspace() and char != " " for char in text):
        return None  # Treebank splits contractions only before a plain space
    out = []
    for token in text.split(" "):
        if not token:
            continue
        match = _SIMPLE_TOKEN.fullmatch(token)
        if match is None or any(part.lower() in _TREEBANK_SPLITS for part in match["core"].split("-")):
            return None
        out.append(match["core"])
        if match["contraction"]:
            out.append(match["contraction"])
    return out


def nrc_counts(text: str, lowercase: bool = False) -> dict[str, int]:
    """NRC counts of a text: the 8 emotions, positive, negative and neutral.

    Words are looked up as written, the original NRCLex's rule: "Happy" counts nothing
    while "happy" counts. ``lowercase`` looks up each word's lowercase form instead.
    """
    lexicon = nrc_lexicon()
    counts = dict.fromkeys(NRC_KEYS, 0)
    for word in words(text):
        affects = lexicon.get(word.lower() if lowercase else word)
        if affects:
            for affect in affects:
                counts[affect] += 1
    counts["neutral"] = int(counts["positive"] == 0 and counts["negative"] == 0)
    return counts


def sentiment(text: str) -> dict[str, float]:
    """VADER scores ``{neg, neu, pos, compound}``."""
    return vader().polarity_scores(text)


def annotate_text(text: str, lowercase: bool = False) -> tuple[dict[str, float], dict[str, int]]:
    return sentiment(text), nrc_counts(text, lowercase)


def annotate_record(record: dict[str, Any], lowercase: bool = False) -> dict[str, Any]:
    """A copy of the record with ``sentiment`` and the flat NRC count keys added."""
    scores, counts = annotate_text(record["caption"], lowercase)
    return merge_annotation(record, scores, counts)


def merge_annotation(record: dict[str, Any], scores: dict[str, float], counts: dict[str, int]) -> dict[str, Any]:
    out = dict(record)
    out["sentiment"] = scores
    out.update(counts)
    return out


def is_annotated(record: dict[str, Any]) -> bool:
    return isinstance(record.get("sentiment"), dict) and "compound" in record["sentiment"]


def emotion_vector(record_or_counts: dict[str, Any]) -> list[int]:
    """The 8 emotion counts in EMOTIONS order (missing keys count 0)."""
    return [int(record_or_counts.get(name, 0) or 0) for name in EMOTIONS]


def record_emotion_vector(record: dict[str, Any], lowercase: bool = False) -> list[int]:
    """A record's emotion vector: its NRC counts, computed from the caption (as ``annotate``
    would) when absent."""
    if any(name in record for name in EMOTIONS):
        return emotion_vector(record)
    return emotion_vector(nrc_counts(str(record.get("caption", "")), lowercase))


def parse_emotion_names(spec: str | Sequence[str]) -> list[int]:
    """``"joy,trust"`` → a binary vector in EMOTIONS order; ValueError on unknown names."""
    names = [n.strip().lower() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = [n for n in names if n not in EMOTIONS]
    if unknown:
        raise ValueError(f"unknown emotion {unknown[0]!r}: choose from {', '.join(EMOTIONS)}")
    return [int(name in names) for name in EMOTIONS]


def query_emotions(text: str, lowercase: bool = True) -> list[int]:
    """A query's emotion vector: NRC counts, by default of its words lowercased.

    People type queries with a capital first word ("Happy kids at a party"): they mean
    the emotion all the same. ``lowercase=False`` counts as ``annotate`` does by default.
    """
    return emotion_vector(nrc_counts(text, lowercase))


def keyword_pattern(regex: str | None = DEFAULT_KEYWORDS) -> re.Pattern[str] | None:
    return None if not regex else re.compile(regex)


def emotion_flags(
    record: dict[str, Any], threshold: float, keywords: re.Pattern[str] | None
) -> tuple[bool, bool]:
    """(by sentiment, by keyword) for an annotated record."""
    by_sentiment = abs(float(record["sentiment"]["compound"])) > threshold
    by_keyword = bool(keywords is not None and keywords.search(str(record.get("caption", ""))))
    return by_sentiment, by_keyword


def annotate_many(texts: Iterable[str], lowercase: bool = False) -> list[tuple[dict[str, float], dict[str, int]]]:
    """Annotate a batch of texts (the unit of work sent to worker processes)."""
    return [annotate_text(text, lowercase) for text in texts]
