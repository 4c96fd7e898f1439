import numpy as np
import pytest

from emoret.evaluation import metrics


def matrix_with_ranks(ranks, size=8):
    """A [size, size] similarity matrix whose text i ranks its video (i) at ranks[i]."""
    sim = np.full((size, size), 0.1)
    for i, rank in enumerate(ranks):
        sim[i, i] = 0.5
        others = [j for j in range(size) if j != i][: rank - 1]
        sim[i, others] = 0.9
    return sim


def test_seed_worked_example_r5_75_r1_12_5():
    sim = matrix_with_ranks([1, 2, 3, 4, 5, 5, 6, 8])
    report = metrics.evaluate(sim, np.arange(8))
    assert report.t2v.r1 == pytest.approx(0.125)
    assert report.t2v.r5 == pytest.approx(0.75)
    assert report.t2v.r10 == pytest.approx(1.0)
    assert report.t2v.median_rank == pytest.approx(4.5)
    assert report.t2v.mean_rank == pytest.approx(34 / 8)


def test_ties_count_against_the_query():
    sim = np.array([[0.3, 0.3, 0.3], [0.3, 0.9, 0.2], [0.5, 0.4, 0.5]])
    ranks = metrics.text_to_video_ranks(sim, [0, 1, 2])
    # Row 0: all equal → last. Row 2: one other video ties with the true one.
    assert ranks.tolist() == [3, 1, 2]
    # Video 0: text 2 scores higher and text 1 ties with the true caption.
    assert metrics.video_to_text_ranks(sim, [0, 1, 2]).tolist() == [3, 1, 1]


def reference_t2v(sim, target):
    order = np.argsort(-sim, axis=1, kind="stable")
    return np.array([int(np.where(order[i] == target[i])[0][0]) + 1 for i in range(len(sim))])


def reference_v2t(sim, target):
    ranks = []
    for video in range(sim.shape[1]):
        order = list(np.argsort(-sim[:, video], kind="stable"))
        own = [order.index(t) for t in range(len(target)) if target[t] == video]
        if own:
            ranks.append(min(own) + 1)
    return np.array(ranks)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_a_sorting_reference_on_random_matrices(seed):
    rng = np.random.default_rng(seed)
    n_videos = 30
    # Several captions a video, a few videos with none.
    target = rng.integers(0, n_videos, size=70)
    sim = rng.standard_normal((70, n_videos))
    assert metrics.text_to_video_ranks(sim, target).tolist() == reference_t2v(sim, target).tolist()
    assert metrics.video_to_text_ranks(sim, target).tolist() == reference_v2t(sim, target).tolist()


def test_video_to_text_takes_the_best_caption_and_ignores_its_siblings():
    # Video 0 has captions 0 and 1; caption 1 scores highest for it.
    sim = np.array([[0.2, 0.0], [0.9, 0.0], [0.5, 0.8]])
    assert metrics.video_to_text_ranks(sim, [0, 0, 1]).tolist() == [1, 1]
    sim[2, 0] = 0.95  # a caption of another video now beats both
    assert metrics.video_to_text_ranks(sim, [0, 0, 1]).tolist() == [2, 1]


def test_emotion_subset_shrinks_queries_and_gallery():
    sim = matrix_with_ranks([1, 8, 1, 8, 1, 8, 1, 8])
    emotional = np.array([True, False] * 4)
    reports = metrics.evaluate_all(sim, np.arange(8), emotional)
    assert reports["all"].t2v.r1 == pytest.approx(0.5)
    subset = reports["emotion"]
    assert subset.t2v.count == 4
    assert subset.t2v.r1 == pytest.approx(1.0)


def test_emotional_mask_absent_without_flags():
    assert metrics.emotional_mask([{"caption": "a"}]) is None
    assert metrics.emotional_mask([{"emotion": 1}, {"emotion": 0}, {}]).tolist() == [True, False, False]


def test_empty_summary_is_nan_not_an_error():
    summary = metrics.Summary.of(np.array([], dtype=int))
    assert summary.count == 0 and np.isnan(summary.r1)
