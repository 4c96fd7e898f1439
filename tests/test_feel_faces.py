"""The face path of `emoret feel`: detector, ONNX expression classifier, weighting, fetching, CLI."""

from __future__ import annotations

import numpy as np
import pytest
from feel_data import BLUE, blank_frame, draw_face, face_store, tiny_expression_model

from emoret.perception import VIDEO_EMOTIONS
from emoret.perception import face_model as fetching
from emoret.perception.detect import Face, HaarFaceDetector
from emoret.perception.expression import (
    AFFECTNET_CLASSES,
    ExpressionClassifier,
    mapping_matrix,
)
from emoret.perception.faces import FaceReader, aggregate, face_weight


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    return tiny_expression_model(tmp_path_factory.mktemp("face") / "tiny.onnx")


def top(scores) -> str:
    return VIDEO_EMOTIONS[int(np.argmax(scores))]


def test_detector_finds_a_drawn_face_and_nothing_in_a_blank_frame():
    detector = HaarFaceDetector()
    faces = detector(draw_face(160))
    assert len(faces) == 1
    face = faces[0]
    assert 0.5 < face.confidence < 1.0
    assert 40 <= face.w <= 160 and abs((face.x + face.w / 2) - 80) < 15  # centred on the drawn face
    assert detector(blank_frame(160)) == []


def test_mapping_sends_affectnet_classes_to_video_emotions():
    matrix = mapping_matrix()
    assert matrix.sum(axis=1).tolist() == [1.0] * 8  # every class counts once
    to = {AFFECTNET_CLASSES[row]: VIDEO_EMOTIONS[int(np.argmax(matrix[row]))] for row in range(8)}
    assert to == {"anger": "anger", "contempt": "disgust", "disgust": "disgust", "fear": "fear",
                  "happiness": "joy", "neutral": "neutral", "sadness": "sadness", "surprise": "surprise"}
    assert matrix[:, VIDEO_EMOTIONS.index("trust")].sum() == 0  # no face class reads as trust


def test_classifier_follows_the_contract(onnx_model):
    classifier = ExpressionClassifier(onnx_model)
    assert classifier.size == 32 and classifier.input_name == "input"
    red = np.full((50, 40, 3), (255, 0, 0), np.uint8)  # any crop size: resized to the input
    blue = np.full((20, 20, 3), (0, 0, 255), np.uint8)
    grey = np.full((30, 30, 3), (124, 116, 104), np.uint8)  # ImageNet's mean colour: normalises to 0
    scores = classifier([red, blue, grey])
    assert scores.shape == (3, 9)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-6)
    assert [top(row) for row in scores] == ["joy", "sadness", "neutral"]
    # Disgust collects two AffectNet classes (disgust and contempt): twice another empty class's share.
    grey_row = scores[2]
    assert grey_row[VIDEO_EMOTIONS.index("disgust")] == pytest.approx(2 * grey_row[VIDEO_EMOTIONS.index("fear")])


def test_faces_weigh_by_size_and_confidence():
    frame_shape = (100, 100, 3)
    big, small = Face(0, 0, 50, 50, 1.0), Face(0, 0, 10, 10, 1.0)
    assert face_weight(big, frame_shape) == pytest.approx(0.25)
    assert face_weight(Face(0, 0, 50, 50, 0.5), frame_shape) == pytest.approx(0.125)
    joy, sad = np.eye(9)[0], np.eye(9)[4]
    mixed = aggregate(np.stack([joy, sad]), np.array([face_weight(big, frame_shape), face_weight(small, frame_shape)]))
    assert mixed[0] == pytest.approx(0.25 / 0.26) and mixed[4] == pytest.approx(0.01 / 0.26)
    assert aggregate(np.zeros((0, 9)), np.zeros(0)) is None


def test_reader_counts_faces_and_frames(onnx_model):
    reader = FaceReader(HaarFaceDetector(), ExpressionClassifier(onnx_model))
    summary = reader(np.stack([draw_face(), blank_frame(), draw_face(colour=BLUE)]))
    assert (summary.count, summary.frames, summary.sampled) == (1, 2, 3)
    assert summary.scores is not None and summary.scores.sum() == pytest.approx(1.0)
    nobody = reader(np.stack([blank_frame()] * 2))
    assert nobody.scores is None and (nobody.count, nobody.frames) == (0, 0)


def test_feel_cli_faces_only(run_cli, tmp_path, onnx_model):
    store = face_store(tmp_path)
    result = run_cli("feel", "--frames", store, "--no-scene", "--face-model", onnx_model)
    assert result.code == 0, result.stderr
    by_id = {r["video_id"]: r for r in result.records}
    assert set(by_id) == {"smiling", "blue", "empty"}
    assert by_id["smiling"]["faces"] == {"count": 1, "frames": 2}
    assert by_id["blue"]["faces"] == {"count": 1, "frames": 3}
    assert by_id["empty"]["faces"] == {"count": 0, "frames": 0}
    assert top(list(by_id["smiling"]["video_emotions"].values())) == "joy"  # warm: redder than blue
    assert top(list(by_id["blue"]["video_emotions"].values())) == "sadness"
    assert by_id["empty"]["video_emotions"]["neutral"] == 1.0  # nothing read
    assert list(by_id["smiling"]["video_emotions"]) == list(VIDEO_EMOTIONS)


def test_feel_combines_scene_and_faces(run_cli, tmp_path, onnx_model, env):
    model_dir = env.model_dir
    store = face_store(tmp_path)
    scene = {r["video_id"]: r for r in run_cli("feel", "--frames", store, "--model", model_dir, "--no-faces").records}
    both = run_cli("feel", "--frames", store, "--model", model_dir, "--face-model", onnx_model)
    assert both.code == 0, both.stderr
    faces = {r["video_id"]: r for r in run_cli("feel", "--frames", store, "--no-scene", "--face-model", onnx_model).records}
    for record in both.records:
        video = record["video_id"]
        share = 0.5 * record["faces"]["frames"] / 3
        for name in VIDEO_EMOTIONS:
            want = (1 - share) * scene[video]["video_emotions"][name] + share * faces[video]["video_emotions"][name]
            assert record["video_emotions"][name] == pytest.approx(want, abs=2e-4)
        assert "faces" not in scene[video]


def test_face_model_is_fetched_once_into_the_cache(monkeypatch, tmp_path, onnx_model):
    monkeypatch.setenv("EMORET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fetching, "FACE_MODEL_URL", onnx_model.resolve().as_uri().replace("tiny", "{name}"))
    path = fetching.face_model_path(name="tiny")
    assert path == tmp_path / "cache" / "face" / "tiny.onnx"
    assert path.read_bytes() == onnx_model.read_bytes()
    monkeypatch.setattr(fetching, "FACE_MODEL_URL", "file:///nonexistent/{name}.onnx")
    assert fetching.face_model_path(name="tiny") == path  # cached: no second fetch


def test_missing_face_model_offline_fails_in_one_line(run_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("EMORET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fetching, "FACE_MODEL_URL", (tmp_path / "nowhere" / "{name}.onnx").as_uri())
    store = face_store(tmp_path)
    result = run_cli("feel", "--frames", store, "--no-scene")
    assert result.code == 2
    assert result.stdout == b""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--face-model" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "cache" / "face" / f"{fetching.DEFAULT_FACE_MODEL}.onnx").exists()


def test_bad_face_model_file_fails_in_one_line(run_cli, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    result = run_cli("feel", "--frames", face_store(tmp_path), "--no-scene", "--face-model", bad)
    assert result.code == 2 and "bad.onnx" in result.stderr and len(result.stderr.strip().splitlines()) == 1
