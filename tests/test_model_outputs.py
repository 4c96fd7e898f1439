"""NaN or infinity out of any model is refused, never written; hostile face models are one line."""

from __future__ import annotations

import shutil
import time

import pytest
from feel_data import face_store, tiny_expression_model
from safetensors.torch import load_file, save_file


def one_line(result, *names):
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    for name in names:
        assert name in result.stderr, result.stderr


def nan_model(model_dir, tmp_path, tensor):
    """The model directory with one weight tensor all NaN (a damaged file that still loads)."""
    copy = tmp_path / "nan-model"
    shutil.copytree(model_dir, copy)
    state = load_file(str(copy / "model.safetensors"))
    state[tensor].fill_(float("nan"))
    save_file(state, str(copy / "model.safetensors"), metadata={"format": "pt"})
    return copy


@pytest.mark.parametrize("shift", [float("nan"), float("inf"), float("-inf")])
def test_a_face_model_giving_nan_is_refused_and_nothing_written(run_cli, tmp_path, shift):
    model = tiny_expression_model(tmp_path / "nan.onnx", shift=shift)
    out = tmp_path / "feel.jsonl"
    out.write_text("old\n")
    result = run_cli("feel", "--frames", face_store(tmp_path), "--no-scene", "--face-model", model, "-o", out)
    one_line(result, "nan.onnx", "NaN or infinite")
    assert out.read_text() == "old\n"


def test_a_one_channel_face_model_is_one_line(run_cli, tmp_path):
    model = tiny_expression_model(tmp_path / "gray.onnx", channels=1)
    result = run_cli("feel", "--frames", face_store(tmp_path), "--no-scene", "--face-model", model)
    one_line(result, "gray.onnx", "RGB input")
    assert result.stdout == b""


def test_a_face_model_declaring_a_huge_input_is_refused_before_any_allocation(run_cli, tmp_path):
    # Before the bound, each face crop became a 60000x60000x3 float array (tens of GB).
    model = tiny_expression_model(tmp_path / "huge.onnx", size=60000)
    started = time.monotonic()
    result = run_cli("feel", "--frames", face_store(tmp_path), "--no-scene", "--face-model", model)
    one_line(result, "huge.onnx", "60000x60000")
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("what", ["texts", "frames"])
def test_embed_refuses_nan_vectors_from_a_damaged_model(run_cli, env, tmp_path, what):  # noqa: F811
    tensor = "text_projection.weight" if what == "texts" else "visual_projection.weight"
    model = nan_model(env.model_dir, tmp_path, tensor)
    source = ["--texts", env.captions] if what == "texts" else ["--frames", env.frames]
    result = run_cli("embed", "--model", model, *source, "--out", tmp_path / "emb")
    one_line(result, "nan-model", "NaN or infinity")
    assert not list(tmp_path.glob("emb*"))


def test_feel_refuses_nan_scene_scores_from_a_damaged_model(run_cli, env, tmp_path):  # noqa: F811
    model = nan_model(env.model_dir, tmp_path, "visual_projection.weight")
    result = run_cli("feel", "--frames", env.frames, "--model", model, "--no-faces")
    one_line(result, "nan-model", "NaN or infinity")
    assert result.stdout == b""


def test_a_model_error_crosses_a_worker_pipe_whole():
    import pickle

    from emoret.errors import ModelError
    from emoret.perception.expression import ExpressionModelError

    for error in (ModelError("m.onnx", "gave NaN"), ExpressionModelError("m.onnx", "gave NaN")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == "m.onnx: gave NaN"


def test_a_nan_face_model_with_the_scene_is_one_line_too(run_cli, env, tmp_path):  # noqa: F811
    model = tiny_expression_model(tmp_path / "nan.onnx", shift=float("nan"))
    result = run_cli("feel", "--frames", face_store(tmp_path), "--model", env.model_dir, "--face-model", model)
    one_line(result, "nan.onnx", "NaN or infinite")
