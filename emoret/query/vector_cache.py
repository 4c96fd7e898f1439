"""Query vectors kept for the queries asked again.

A person at the server's page asks the same text again and again: an emotion chip, the
emotion weight, a reload or a shared link each search the words already typed, and the text
tower (0.85 GFLOP a query at ViT-B/32) is most of what a search costs. A vector is kept only
from an encoder whose vector of a query does not depend on the queries encoded with it (the
numpy tower, ``batch_independent``): a kept vector is then the one encoding it again would
give, bit for bit, and the hits are the same with or without the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

# Vectors kept (512-d float32: 2 KiB each, 8 MiB in all).
CAPACITY = 4096

Key = tuple[str, tuple[float, ...] | None]


class CachedQueryEncoder:
    """``encoder``'s ``encode_queries`` with the last ``capacity`` queries' vectors kept."""

    def __init__(self, encoder: Any, capacity: int = CAPACITY):
        if not getattr(encoder, "batch_independent", False):
            raise ValueError("only an encoder whose query vectors do not depend on their batch can be cached")
        self.encoder = encoder
        self.capacity = capacity
        self.hits = self.misses = 0
        self._kept: OrderedDict[Key, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def embed_dim(self) -> int:
        return int(self.encoder.embed_dim)

    @property
    def fingerprint(self) -> str:
        return str(self.encoder.fingerprint)

    def encode_queries(self, texts: Sequence[str], emotions: Sequence[Sequence[float]] | None = None) -> np.ndarray:
        """As the encoder's: L2-normalised float32 [B, D]; only the queries not kept are encoded (together)."""
        if not texts:
            return np.zeros((0, self.embed_dim), np.float32)
        keys = [(text, None if emotions is None else tuple(float(x) for x in emotions[n])) for n, text in enumerate(texts)]
        with self._lock:
            found = {key: self._kept[key] for key in keys if key in self._kept}
        missing = list(dict.fromkeys(key for key in keys if key not in found))
        if missing:
            rows = None if emotions is None else [list(key[1] or ()) for key in missing]
            fresh = self.encoder.encode_queries([key[0] for key in missing], rows)
            found.update(zip(missing, fresh, strict=True))
        with self._lock:
            self.hits += len(keys) - len(missing)
            self.misses += len(missing)
            for key in keys:
                self._kept[key] = found[key]
                self._kept.move_to_end(key)
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)
        return np.stack([found[key] for key in keys])
