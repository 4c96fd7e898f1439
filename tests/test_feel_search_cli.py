"""Video emotions through the commands: index --emotions / --feel, search --emotion and
--emotion-weight, eval --video-emotions, tsne --video-emotions."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from retrieval_data import VIDEO_IDS

from emoret.index import store
from emoret.perception import VIDEO_EMOTIONS
from emoret.perception.scene import SceneReader

# Made-up emotions for the six test videos: clip0 and clip3 joyful, clip1 fearful, the rest neutral.
FEELS = {
    "clip0": {"joy": 0.8, "neutral": 0.2},
    "clip1": {"fear": 0.7, "sadness": 0.3},
    "clip2": {"sadness": 0.25, "neutral": 0.75},
    "clip3": {"joy": 0.55, "surprise": 0.45},
    "clip4": {"anger": 0.2, "neutral": 0.8},
    "clip5": {"neutral": 1.0},
}


def feel_file(path, ids=VIDEO_IDS):
    lines = [orjson.dumps({"video_id": v, "video_emotions": {n: FEELS[v].get(n, 0.0) for n in VIDEO_EMOTIONS},
                           "faces": {"count": 0, "frames": 0}}) for v in ids]  # fmt: skip
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture
def emotional_index(env, run_cli, tmp_path):
    path = tmp_path / "idx"
    result = run_cli("index", env.videos, "--out", path, "--emotions", feel_file(tmp_path / "feel.jsonl"))
    assert result.code == 0, result.stderr
    return path


def test_index_keeps_video_emotions(emotional_index):
    items = store.open_index(emotional_index).items
    assert [item["video_emotions"]["joy"] for item in items] == [FEELS[v].get("joy", 0.0) for v in VIDEO_IDS]
    assert all(item["faces"] == {"count": 0, "frames": 0} for item in items)


def test_index_reports_videos_missing_from_the_emotions_file(env, run_cli, tmp_path):
    result = run_cli("index", env.videos, "--out", tmp_path / "idx", "--emotions",
                     feel_file(tmp_path / "feel.jsonl", VIDEO_IDS[:4]))  # fmt: skip
    assert result.code == 0 and "2 of 6 videos have no record" in result.stderr
    items = store.open_index(tmp_path / "idx").items
    assert ["video_emotions" in item for item in items] == [True] * 4 + [False] * 2


def test_index_refuses_a_file_without_video_emotions(env, run_cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"video_id": "clip0", "video_emotions": {"joy": 1}}\n{"video_id": "clip1"}\n')
    result = run_cli("index", env.videos, "--out", tmp_path / "idx", "--emotions", bad)
    assert result.code == 2 and "bad.jsonl:2:" in result.stderr
    assert not (tmp_path / "idx").exists()


def test_index_feel_reads_the_scene_from_the_vectors(env, run_cli, tmp_path):
    result = run_cli("index", env.videos, "--out", tmp_path / "idx", "--feel")
    assert result.code == 0, result.stderr
    index = store.open_index(tmp_path / "idx")
    expected = SceneReader(env.model)(np.asarray(index.vectors()))
    for item, want in zip(index.items, expected, strict=False):
        np.testing.assert_allclose([item["video_emotions"][n] for n in VIDEO_EMOTIONS], want, atol=1e-4)


def test_search_emotion_filter_keeps_only_videos_showing_it(run_cli, emotional_index):
    result = run_cli("search", "a dog plays in the park", "--index", emotional_index, "--top", "6", "--emotion", "joy")
    assert result.code == 0, result.stderr
    assert sorted(h["video_id"] for h in result.records) == ["clip0", "clip3"]
    assert [h["rank"] for h in result.records] == [1, 2]
    assert all("video_emotions" in h for h in result.records)  # hits show them
    strict = run_cli("search", "a dog", "--index", emotional_index, "--emotion", "joy", "--emotion-threshold", "0.6")
    assert [h["video_id"] for h in strict.records] == ["clip0"]
    unfiltered = run_cli("search", "a dog plays in the park", "--index", emotional_index, "--top", "6").records
    order = [h["video_id"] for h in unfiltered if h["video_id"] in ("clip0", "clip3")]
    assert [h["video_id"] for h in result.records] == order  # ranked within by similarity


def test_search_emotion_weight_reranks_emotional_queries(run_cli, emotional_index):
    joy = ("--emotions", "joy")  # the query's emotions, as if read from its words
    plain = run_cli("search", "a cat", *joy, "--index", emotional_index, "--top", "6", "--emotion-weight", "0").records
    lifted = run_cli("search", "a cat", *joy, "--index", emotional_index, "--top", "6", "--emotion-weight", "10").records
    by_id = {h["video_id"]: h["score"] for h in plain}
    for hit in lifted:
        share = FEELS[hit["video_id"]].get("joy", 0.0)
        assert hit["score"] == pytest.approx(by_id[hit["video_id"]] + 10 * share, abs=1e-5)
    assert [h["video_id"] for h in lifted[:2]] == ["clip0", "clip3"]  # a weight this large puts joy first
    calm = run_cli("search", "a cat", "--index", emotional_index, "--top", "6", "--emotion-weight", "10").records
    assert [h["score"] for h in calm] == [h["score"] for h in run_cli("search", "a cat", "--index", emotional_index,
                                                                      "--top", "6").records]  # fmt: skip


def test_search_emotion_usage_errors(env, run_cli, emotional_index, tmp_path):
    unknown = run_cli("search", "a dog", "--index", emotional_index, "--emotion", "happy")
    assert unknown.code == 2 and "choose from" in unknown.stderr
    lonely = run_cli("search", "a dog", "--index", emotional_index, "--emotion-threshold", "0.5")
    assert lonely.code == 2
    assert run_cli("index", env.videos, "--out", tmp_path / "plain").code == 0
    bare = run_cli("search", "a dog", "--index", tmp_path / "plain", "--emotion", "joy")
    assert bare.code == 2 and "--emotions feel.jsonl" in bare.stderr and "Traceback" not in bare.stderr


def test_eval_with_video_emotions(env, run_cli, tmp_path):
    feel = feel_file(tmp_path / "feel.jsonl")
    plain = orjson.loads(run_cli("eval", "--texts", env.texts, "--videos", env.videos, "--json").stdout)
    off = run_cli("eval", "--texts", env.texts, "--videos", env.videos, "--json", "--video-emotions", feel)
    assert off.code == 0 and orjson.loads(off.stdout) == plain and "off" in off.stderr
    strong = run_cli("eval", "--texts", env.texts, "--videos", env.videos, "--json", "--video-emotions", feel,
                     "--emotion-weight", "10")  # fmt: skip
    assert strong.code == 0, strong.stderr
    assert orjson.loads(strong.stdout) != plain  # the term moved the ranks
    assert run_cli("eval", "--texts", env.texts, "--videos", env.videos, "--emotion-weight", "0.5").code == 2


def test_tsne_marks_videos_by_their_own_emotions(env, run_cli, tmp_path):
    from emoret.evaluation.plots import emotion_flags

    records = [{"video_id": v, "video_emotions": FEELS[v]} for v in VIDEO_IDS]
    flags = emotion_flags(records, {"clip1": np.ones(8, bool)})
    assert flags[:, 0].tolist() == [True, False, False, True, False, False]  # joy strongest: clip0, clip3
    assert flags[1].tolist() == [False, False, True] + [False] * 5  # clip1: fear, not its captions' flags
    assert not flags[5].any()  # neutral leads: no emotion marked
    out = tmp_path / "tsne.png"
    result = run_cli("tsne", "--videos", env.videos, "--video-emotions", feel_file(tmp_path / "feel.jsonl"),
                     "-e", "joy", "-o", out, "--perplexity", "2")  # fmt: skip
    assert result.code == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run_cli("tsne", "--texts", env.texts, "--video-emotions", tmp_path / "feel.jsonl", "-o", out).code == 2


def test_feel_and_index_feel_from_video_files(env, run_cli, tmp_path):
    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_video

    videos = tmp_path / "videos"
    videos.mkdir()
    for scene in make_scenes(2, seed=0):
        make_video(videos / f"{scene.video_id}.mp4", scene, width=64, height=48, fps=8, duration=0.5)
    felt = run_cli("feel", "--model", env.model_dir, videos, "--no-faces")
    assert felt.code == 0, felt.stderr
    assert sorted(r["video_id"] for r in felt.records) == sorted(p.stem for p in videos.iterdir())
    assert all(sum(r["video_emotions"].values()) == pytest.approx(1.0, abs=1e-3) for r in felt.records)

    target = tmp_path / "idx"
    args = ("index", "--model", env.model_dir, videos, "--out", target, "--feel")
    first = run_cli(*args)
    assert first.code == 0 and "scene emotions read for 2 videos" in first.stderr, first.stderr
    index = store.open_index(target)
    expected = SceneReader(env.model)(np.asarray(index.vectors()))
    for item, want in zip(index.items, expected, strict=False):
        np.testing.assert_allclose([item["video_emotions"][n] for n in VIDEO_EMOTIONS], want, atol=1e-4)
    by_id = {r["video_id"]: r["video_emotions"] for r in felt.records}
    assert all(item["video_emotions"] == pytest.approx(by_id[item["video_id"]], abs=2e-4) for item in index.items)
    again = run_cli(*args)
    assert again.code == 0 and "up to date" in again.stderr  # kept videos keep their emotions
