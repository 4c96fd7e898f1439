"""A model directory checked against its weights: a swapped weights file, lying headers."""

import json
import shutil
import struct

import pytest
from safetensors.torch import load_file, save_file

from emoret.model import emoret_model, load_model


def swapped_copy(model_dir, tmp_path):
    """The model directory with other weights in model.safetensors (emoret.json untouched)."""
    copy = tmp_path / "swapped"
    shutil.copytree(model_dir, copy)
    state = load_file(str(copy / "model.safetensors"))
    state["text_projection.weight"] += 0.5
    save_file(state, str(copy / "model.safetensors"), metadata={"format": "pt"})
    return copy


def test_swapped_weights_get_their_own_fingerprint(env, tmp_path):  # noqa: F811
    copy = swapped_copy(env.model_dir, tmp_path)
    assert json.loads((copy / "emoret.json").read_text())["fingerprint"] == env.fingerprint
    assert load_model(copy).fingerprint != env.fingerprint


def test_search_refuses_an_index_of_the_weights_before_the_swap(env, run_cli, tmp_path):  # noqa: F811
    assert run_cli("index", env.videos, "--out", tmp_path / "idx").code == 0
    copy = swapped_copy(env.model_dir, tmp_path)
    result = run_cli("search", "a happy dog", "--index", tmp_path / "idx", "--model", copy)
    assert result.code == 2 and "another model" in result.stderr and result.stdout == b""


def test_unchanged_weights_are_not_hashed_again(env, monkeypatch):  # noqa: F811
    def refuse(*args):
        raise AssertionError("hashed the weights again")

    monkeypatch.setattr(emoret_model, "weights_fingerprint", refuse)
    assert load_model(env.model_dir).fingerprint == env.fingerprint


def test_saved_fingerprint_equals_one_computed_from_the_loaded_weights(env, tmp_path):  # noqa: F811
    copy = tmp_path / "copy"
    shutil.copytree(env.model_dir, copy)  # copytree keeps mtimes; forget the recorded stat instead
    config = json.loads((copy / "emoret.json").read_text())
    config["weights_size"] = 0
    (copy / "emoret.json").write_text(json.dumps(config))
    assert load_model(copy).fingerprint == env.fingerprint


@pytest.mark.parametrize("damage", ["huge header length", "offsets past the end"])
def test_lying_safetensors_headers_are_one_line(env, run_cli, tmp_path, damage):  # noqa: F811
    copy = tmp_path / "lying"
    shutil.copytree(env.model_dir, copy)
    weights = copy / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    if damage == "huge header length":
        raw[:8] = struct.pack("<Q", 1 << 40)
    else:
        length = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8 : 8 + length])
        name = next(key for key in header if key != "__metadata__")
        start, end = header[name]["data_offsets"]
        header[name]["data_offsets"] = [start, end + (1 << 30)]
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        raw = bytearray(struct.pack("<Q", len(text)) + text + raw[8 + length :])
    weights.write_bytes(bytes(raw))
    result = run_cli("embed", "--model", copy, "--texts", env.captions, "--out", tmp_path / "t")
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def damaged_copy(model_dir, tmp_path, damage):
    """The model directory with one foreign change: an extra emotion row, int64 weights, or a
    config whose text hidden size is -5."""
    import torch

    copy = tmp_path / damage.replace(" ", "-")
    shutil.copytree(model_dir, copy)
    if damage == "hidden size -5":
        config = json.loads((copy / "config.json").read_text())
        config["text_config"]["hidden_size"] = -5
        (copy / "config.json").write_text(json.dumps(config))
        return copy
    state = load_file(str(copy / "model.safetensors"))
    if damage == "extra emotion row":
        table = state["text_model.embeddings.emotion_embedding.weight"]
        state["text_model.embeddings.emotion_embedding.weight"] = torch.cat([table, table[:1]])
    else:
        state = {name: (tensor * 100).to(torch.int64) for name, tensor in state.items()}
    save_file(state, str(copy / "model.safetensors"), metadata={"format": "pt"})
    return copy


@pytest.mark.parametrize(("damage", "said"), [("extra emotion row", "is 9x32, the model needs 8x32"),
                                              ("int64 weights", "model weights are floating point"),
                                              ("hidden size -5", "hidden size (-5)")])
def test_foreign_weights_and_configs_are_one_line(env, run_cli, tmp_path, damage, said):  # noqa: F811
    copy = damaged_copy(env.model_dir, tmp_path, damage)
    result = run_cli("embed", "--model", copy, "--texts", env.captions, "--out", tmp_path / "t")
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(copy) in result.stderr and said in result.stderr
    assert not list(tmp_path.glob("t.*"))


def test_a_csv_as_the_model_is_one_short_honest_line(env, run_cli, tmp_path):  # noqa: F811
    caps = tmp_path / "caps.csv"
    caps.write_text("video,caption\nclip0.mp4,a happy dog\n")
    result = run_cli("train", "--model", caps, "--captions", env.captions, "--frames", env.frames,
                     "--out", tmp_path / "run", "--batch-size", "2", "--num-frames", "2")
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and len(result.stderr.replace(str(caps), "caps.csv")) < 130, result.stderr
    assert "caps.csv: not a CLIP-ViP checkpoint" in result.stderr and "weights_only" not in result.stderr
