"""The scene path of `emoret feel`: prompt ensembles through the model's towers."""

from __future__ import annotations

import numpy as np
import pytest

from emoret.embedding.files import load_embeddings
from emoret.perception import VIDEO_EMOTIONS
from emoret.perception.prompts import TEMPLATES, WORDS, class_prompts
from emoret.perception.scene import SceneReader, logit_scale, scene_scores


def test_every_class_has_an_ensemble():
    assert set(WORDS) == set(VIDEO_EMOTIONS)
    for emotion in VIDEO_EMOTIONS:
        prompts = class_prompts(emotion)
        assert len(prompts) == len(TEMPLATES) * len(WORDS[emotion]) >= 9
        assert len(set(prompts)) == len(prompts)


def test_scores_are_a_softmax_at_the_logit_scale():
    classes = np.eye(9, 4)[:, :4]  # 9 classes in 4 dimensions: four unit axes, five zero rows
    video = np.array([[1.0, 0.0, 0.0, 0.0]])
    scores = scene_scores(video, classes, scale=10.0)
    assert scores.shape == (1, 9) and scores.sum() == pytest.approx(1.0)
    assert scores[0, 0] == pytest.approx(np.exp(10) / (np.exp(10) + 8))
    # A lower scale spreads the same ranking more evenly.
    assert scene_scores(video, classes, scale=1.0)[0, 0] < scores[0, 0]


def test_class_embeddings_are_averaged_prompts(env):
    reader = SceneReader(env.model)
    assert reader.classes.shape == (9, env.model.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(reader.classes, axis=1), 1.0, rtol=1e-5)
    assert reader.scale == pytest.approx(min(100.0, float(np.exp(env.model.clip.logit_scale.item()))))
    assert logit_scale(object()) == pytest.approx(1 / 0.07)  # no learned scale: CLIP's initial one
    # A video whose embedding is a class's own vector reads as that class.
    scores = reader(reader.classes)
    assert list(scores.argmax(axis=1)) == list(range(9))


def test_feel_cli_scene_matches_the_video_embeddings(env, run_cli, tmp_path):
    result = run_cli("feel", "--model", env.model_dir, "--frames", env.frames, "--no-faces", "-o", tmp_path / "feel.jsonl")
    assert result.code == 0, result.stderr
    assert result.stdout == b""  # -o: nothing on stdout
    import orjson

    records = [orjson.loads(line) for line in (tmp_path / "feel.jsonl").read_bytes().splitlines()]
    videos = load_embeddings(env.videos)
    assert [r["video_id"] for r in records] == [r["video_id"] for r in videos.records]
    expected = SceneReader(env.model)(videos.vectors)
    for record, want in zip(records, expected, strict=False):
        assert list(record["video_emotions"]) == list(VIDEO_EMOTIONS)
        np.testing.assert_allclose(list(record["video_emotions"].values()), want, atol=1e-3)
        assert "faces" not in record and record["duration"] == 2.5  # input fields pass through


def test_feel_usage_errors(env, run_cli, tmp_path):
    assert run_cli("feel", "--frames", env.frames, "--no-faces").code == 2  # the scene needs a model
    both_off = run_cli("feel", "--frames", env.frames, "--no-scene", "--no-faces")
    assert both_off.code == 2 and "nothing" in both_off.stderr
    assert run_cli("feel", "--model", env.model_dir, "--no-faces").code == 2  # no input
