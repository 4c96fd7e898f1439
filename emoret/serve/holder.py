"""The index a server answers from, kept current without a restart.

``emoret index`` publishes a new version by swapping a whole directory into place
(see emoret.index.store). A request notices the swap by the identity of
``meta.json`` (one ``stat``) and starts loading the new version on a background thread;
searches keep answering from the version they were given, whole, until the new one is
loaded, checked and warmed (its first search done), and only then is it handed out. A new
version that cannot be loaded is reported once and the old one kept.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import emoret
from emoret.index import exact
from emoret.query.vector_cache import CachedQueryEncoder
from emoret.serve.library import Library

if TYPE_CHECKING:
    from emoret.api import QueryEncoder

Say = Callable[[str], None]
Signature = tuple[int, int, int, int]
WARM_QUERY = "warm up"


def _quiet(_: str) -> None:
    pass


@dataclass
class Loaded:
    """One version of the index with what answers on it."""

    index: Any  # emoret's Index
    encoder: QueryEncoder
    loaded_at: float = field(default_factory=time.time)

    @property
    def build_id(self) -> str:
        return str(self.index.meta.get("build_id") or "")

    @functools.cached_property
    def library(self) -> Library:
        """The files this version holds (read on the first media request: it parses every record)."""
        return Library.of_items(self.index.items)

    @functools.cached_property
    def has_video_emotions(self) -> bool:
        """Whether any record keeps ``video_emotions`` (what the emotion filter needs)."""
        return any(isinstance(item.get("video_emotions"), dict) for item in self.index.items)

    def search(self, queries: Sequence[str], options: emoret.SearchOptions) -> list[emoret.Answer]:
        """Each query's answer on this version: the library call of ``emoret search --json``."""
        return emoret.search(self.index, list(queries), self.encoder, options)


def signature(path: Path) -> Signature | None:
    """What changes when a new version of the index is published (None while none is there)."""
    try:
        info = os.stat(path / "meta.json")
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size


def load(path: str | os.PathLike[str] | None, model_spec: str | None = None, device: str = "cpu") -> Loaded:
    """The index at ``path`` and its query encoder, warmed by one search (the graph or the vectors'
    check and the tokenizer load now, not on a person's first query)."""
    index = emoret.open_index(path)
    if index.uses_exact() and len(index) >= exact.ONNX_SCAN_MIN_ROWS:
        exact.prepare_scan()  # a server searches again and again: the faster scan from its first batch
    encoder = emoret.query_encoder(index, model_spec, device)
    if getattr(encoder, "batch_independent", False):  # a chip, the weight, a reload: the same words again
        encoder = CachedQueryEncoder(encoder)
    loaded = Loaded(index, encoder)
    loaded.search([WARM_QUERY], emoret.SearchOptions(top=1))
    return loaded


class IndexHolder:
    """The current :class:`Loaded` of an index directory, swapped for a new one when it is rebuilt."""

    def __init__(self, path: str | os.PathLike[str] | None = None, model_spec: str | None = None,
                 device: str = "cpu", say: Say = _quiet):
        self._load = functools.partial(load, model_spec=model_spec, device=device)
        self._say = say
        self._lock = threading.Lock()
        self._reloader: threading.Thread | None = None
        self._failed: Signature | None = None
        first = self._load(path)
        self.path = Path(first.index.path)
        self._signature = signature(self.path)
        self._current = first
        self.reloads = 0

    def current(self) -> Loaded:
        """The version to answer from; starts loading a newer one when the directory changed."""
        seen = signature(self.path)
        if seen is not None and seen != self._signature and seen != self._failed:
            self._start_reload(seen)
        return self._current

    @property
    def reloading(self) -> bool:
        thread = self._reloader
        return thread is not None and thread.is_alive()

    def _start_reload(self, seen: Signature) -> None:
        with self._lock:
            if self.reloading:
                return
            self._reloader = threading.Thread(target=self._reload, args=(seen,), name="emoret-serve-reload",
                                              daemon=True)
            self._reloader.start()

    def _reload(self, seen: Signature) -> None:
        try:
            fresh = self._load(self.path)
        except Exception as err:  # noqa: BLE001 - whatever the new version's fault, the old one serves on
            self._failed = seen
            self._say(f"serve: cannot load the rebuilt index ({err}); still answering from the previous one")
            return
        self._signature = seen  # taken before the load: a newer swap since then is noticed again
        if fresh.build_id != self._current.build_id:
            self._current = fresh
            self.reloads += 1
            self._say(f"serve: {self.path} rebuilt: now {len(fresh.index):,} items")
