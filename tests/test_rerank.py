"""Video emotions in search: the match term, the --emotion filter and the over-fetching re-ranker."""

from __future__ import annotations

import numpy as np
import pytest

from emoret.index import store
from emoret.perception import VIDEO_EMOTIONS
from emoret.query.rerank import (
    emotion_match,
    match_matrix,
    passes,
    query_weights,
    rerank,
    search_with_emotions,
)

JOY = [1, 0, 0, 0, 0, 0, 0, 0]
JOY_FEAR = [2, 0, 1, 0, 0, 0, 0, 0]
NONE = [0] * 8


def feels(**scores: float) -> dict[str, float]:
    return {name: scores.get(name, 0.0) for name in VIDEO_EMOTIONS}


def test_match_is_the_video_share_on_the_query_emotions():
    video = feels(joy=0.6, fear=0.3, neutral=0.1)
    assert emotion_match(JOY, video) == pytest.approx(0.6)
    assert emotion_match(JOY_FEAR, video) == pytest.approx(0.45)  # binarised, then averaged
    assert emotion_match(NONE, video) == 0.0  # a query naming no emotion: no term
    assert emotion_match(JOY, None) == 0.0 and emotion_match(JOY, "joy") == 0.0
    assert query_weights(JOY_FEAR).sum() == pytest.approx(1.0)
    matrix = match_matrix([JOY, NONE], [video, None, feels(joy=1.0)])
    np.testing.assert_allclose(matrix, [[0.6, 0.0, 1.0], [0.0, 0.0, 0.0]])


def test_filter_keeps_scores_at_the_threshold():
    assert passes({"video_emotions": feels(joy=0.3)}, "joy", 0.3)
    assert not passes({"video_emotions": feels(joy=0.29)}, "joy", 0.3)
    assert not passes({}, "joy", 0.0)  # unknown emotions never pass a filter
    assert passes({}, None, 0.3)
    with pytest.raises(ValueError, match="choose from"):
        passes({"video_emotions": feels()}, "happy", 0.3)


def hits(*rows: tuple[str, float, dict]) -> list[store.Hit]:
    return [store.Hit(rank, score, {"video_id": vid, "video_emotions": emo}) for rank, (vid, score, emo) in enumerate(rows, 1)]


def test_rerank_adds_the_weighted_match():
    candidates = hits(("calm", 0.50, feels(trust=1.0)), ("party", 0.45, feels(joy=0.9, neutral=0.1)))
    plain = rerank(candidates, JOY, weight=0.0)
    assert [h.item["video_id"] for h in plain] == ["calm", "party"]
    lifted = rerank(candidates, JOY, weight=0.1)
    assert [h.item["video_id"] for h in lifted] == ["party", "calm"]
    assert [h.rank for h in lifted] == [1, 2]
    assert lifted[0].score == pytest.approx(0.45 + 0.09)
    assert [h.item["video_id"] for h in rerank(candidates, NONE, weight=1.0)] == ["calm", "party"]


def test_rerank_filters_then_ranks_within():
    candidates = hits(("a", 0.9, feels(fear=1.0)), ("b", 0.8, feels(joy=0.5, fear=0.5)), ("c", 0.7, feels(joy=0.8)),
                      ("d", 0.6, None))  # fmt: skip
    kept = rerank(candidates, NONE, weight=0.0, emotion="joy", threshold=0.5)
    assert [(h.rank, h.item["video_id"]) for h in kept] == [(1, "b"), (2, "c")]


def brute_force(vectors, emotions, query, query_emotions, weight, emotion, threshold, top):
    scores = vectors @ query + weight * match_matrix([query_emotions], emotions)[0]
    keep = [i for i in range(len(vectors)) if passes({"video_emotions": emotions[i]}, emotion, threshold)]
    return sorted(keep, key=lambda i: -scores[i])[:top]


@pytest.mark.parametrize(("weight", "emotion", "threshold"), [(0.3, None, 0.3), (0.0, "anger", 0.85), (0.05, "joy", 0.5)])
def test_search_overfetches_until_exact(tmp_path, weight, emotion, threshold):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(600, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    raw = rng.dirichlet(np.full(9, 0.3), size=600)
    emotions = [dict(zip(VIDEO_EMOTIONS, map(float, row), strict=False)) for row in raw]
    records = [{"video_id": f"v{i}", "video_emotions": emotions[i]} for i in range(600)]
    store.write_index(tmp_path / "idx", vectors, records, ef_construction=400)
    index = store.open_index(tmp_path / "idx")
    query = vectors[7] * 0.3 + vectors[8] * 0.7
    query /= np.linalg.norm(query)
    if emotion == "anger":  # a strict filter: the first 100 candidates hold fewer than `top` passing videos
        nearest = np.argsort(-(vectors @ query))[:100]
        assert sum(passes(records[i], emotion, threshold) for i in nearest) < 10
    got = search_with_emotions(index, query[None, :], [JOY], top=10, ef=800, weight=weight, emotion=emotion,
                               threshold=threshold)[0]  # fmt: skip
    want = brute_force(vectors, emotions, query, JOY, weight, emotion, threshold, 10)
    assert [h.item["video_id"] for h in got] == [f"v{i}" for i in want]
    assert [h.rank for h in got] == list(range(1, len(want) + 1))
