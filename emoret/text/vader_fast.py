"""A faster, exactly equivalent punctuation map for nltk's VADER.

``SentiText._words_plus_punc`` builds, for every caption, a dict of all
``punctuation + word`` and ``word + punctuation`` strings (about 60 entries a word),
only to look up the caption's own tokens in it. That product is two thirds of
VADER's time on short captions. :class:`PunctuatedWords` answers the same lookups
directly: a word has no punctuation in it and every entry of PUNC_LIST is all
punctuation, so a token ``p + w`` must split at the end of its leading punctuation
run (and ``w + p`` at the start of its trailing one).

:func:`install` swaps the method in only after checking, on tricky text, that the
scores are unchanged; otherwise nltk's own is kept.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, Iterator, Protocol

_PUNCTUATION = frozenset(string.punctuation)
_ORIGINAL: list = []  # nltk's own method, once replaced
_CHECK_TEXTS = (
    "a happy dog, a sad cat! and :) kind of good?? not bad...",
    "\"great\" -- 'awful' ;wow; :-( never so good!!! but ugly?!?",
    "At least it's NOT terrible, (lol) #bad !!cool ok. a, b; c: d- e' 'f",
    "VERY GOOD food, but the service was kinda slow...??? :D <3",
)


class PunctuatedWords(Mapping):
    """Maps ``p + w`` and ``w + p`` (p in PUNC_LIST, w in the words) to ``w``."""

    def __init__(self, words: set[str], punctuation: frozenset[str]):
        self._words = words
        self._punctuation = punctuation

    def _resolve(self, token: str) -> str | None:
        if not token:
            return None
        if token[0] in _PUNCTUATION:
            cut = 0
            while cut < len(token) and token[cut] in _PUNCTUATION:
                cut += 1
            head, word = token[:cut], token[cut:]
            return word if head in self._punctuation and word in self._words else None
        cut = len(token)
        while cut > 0 and token[cut - 1] in _PUNCTUATION:
            cut -= 1
        word, tail = token[:cut], token[cut:]
        return word if tail and tail in self._punctuation and word in self._words else None

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self._resolve(token) is not None

    def __getitem__(self, token: str) -> str:
        word = self._resolve(token)
        if word is None:
            raise KeyError(token)
        return word

    def __iter__(self) -> Iterator[str]:  # only for Mapping's sake: enumerate like nltk does
        for word in self._words:
            for p in self._punctuation:
                yield p + word
                yield word + p

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _fast_words_plus_punc(self: Any) -> PunctuatedWords:  # self: nltk's SentiText (untyped)
    no_punc_text = self.REGEX_REMOVE_PUNCTUATION.sub("", self.text)
    words = {w for w in no_punc_text.split() if len(w) > 1}
    return PunctuatedWords(words, frozenset(self.PUNC_LIST))


class _Scorer(Protocol):
    def polarity_scores(self, text: str) -> dict[str, float]: ...


def install(analyzer: _Scorer) -> bool:
    """Use the fast map in nltk's SentiText if it gives identical scores; True if it does."""
    from nltk.sentiment import vader as nltk_vader

    senti_text = nltk_vader.SentiText
    original = senti_text.__dict__.get("_words_plus_punc")
    if original is None or original is _fast_words_plus_punc:
        return original is _fast_words_plus_punc
    _ORIGINAL.append(original)
    expected = [analyzer.polarity_scores(text) for text in _CHECK_TEXTS]
    senti_text._words_plus_punc = _fast_words_plus_punc
    if [analyzer.polarity_scores(text) for text in _CHECK_TEXTS] != expected:
        senti_text._words_plus_punc = original
        return False
    return True


def uninstall() -> None:
    """Put nltk's own method back (for comparisons)."""
    from nltk.sentiment import vader as nltk_vader

    if _ORIGINAL and nltk_vader.SentiText.__dict__.get("_words_plus_punc") is _fast_words_plus_punc:
        nltk_vader.SentiText._words_plus_punc = _ORIGINAL[0]
