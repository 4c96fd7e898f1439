"""Query vectors kept for queries asked again: the same bits as encoding them again."""

from __future__ import annotations

import numpy as np
import pytest

from emoret.query.vector_cache import CachedQueryEncoder


class CountingEncoder:
    """A batch-independent stand-in that counts what it was asked to encode."""

    batch_independent = True
    embed_dim = 4
    fingerprint = "f"

    def __init__(self):
        self.asked: list[list[str]] = []

    def encode_queries(self, texts, emotions=None):
        self.asked.append(list(texts))
        rows = [[len(t), sum(map(ord, t)) % 7, 0 if emotions is None else sum(emotions[n]), 1] for n, t in enumerate(texts)]
        x = np.asarray(rows, np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_kept_vectors_are_returned_and_only_new_queries_encoded():
    inner = CountingEncoder()
    cached = CachedQueryEncoder(inner, capacity=8)
    first = cached.encode_queries(["a dog", "a cat"], [[1] + [0] * 7, [0] * 8])
    again = cached.encode_queries(["a cat", "a bird", "a dog", "a bird"], [[0] * 8, [0] * 8, [1] + [0] * 7, [0] * 8])
    assert inner.asked == [["a dog", "a cat"], ["a bird"]]  # each new query once, however often in the batch
    assert np.array_equal(again[[2, 0]], first)
    assert np.array_equal(again, inner.encode_queries(["a cat", "a bird", "a dog", "a bird"],
                                                      [[0] * 8, [0] * 8, [1] + [0] * 7, [0] * 8]))
    assert (cached.hits, cached.misses) == (3, 3)


def test_the_same_words_with_other_emotions_are_another_query():
    inner = CountingEncoder()
    cached = CachedQueryEncoder(inner)
    cached.encode_queries(["rain"], [[0] * 8])
    cached.encode_queries(["rain"], [[0, 0, 0, 0, 1, 0, 0, 0]])
    cached.encode_queries(["rain"], None)
    assert inner.asked == [["rain"], ["rain"], ["rain"]]


def test_the_least_recently_asked_is_dropped_past_capacity():
    inner = CountingEncoder()
    cached = CachedQueryEncoder(inner, capacity=2)
    for text in ("a", "b", "a", "c", "a", "b"):  # c drops b (a was asked since); then b is new again
        cached.encode_queries([text])
    assert inner.asked == [["a"], ["b"], ["c"], ["b"]]
    assert cached.encode_queries([]).shape == (0, 4)


def test_an_encoder_whose_vectors_depend_on_their_batch_is_refused():
    class Batched(CountingEncoder):
        batch_independent = False

    with pytest.raises(ValueError):
        CachedQueryEncoder(Batched())


def test_the_numpy_tower_is_cached_bit_for_bit(env, tmp_path):
    from emoret.query import export as query_export
    from emoret.query import text_numpy

    query_export.export_text_tower(env.model, tmp_path)
    tower = text_numpy.NumpyTextEncoder.load(tmp_path)
    assert tower.batch_independent
    cached = CachedQueryEncoder(tower)
    texts = ["a happy dog", "a storm at sea", "sad", "a happy dog"]
    cached.encode_queries(texts[:2])
    assert np.array_equal(cached.encode_queries(texts), np.stack([tower.encode_queries([t])[0] for t in texts]))
