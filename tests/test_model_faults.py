"""A model directory checked against its weights: a swapped weights file, lying headers."""

import json
import shutil
import struct

import pytest
from retrieval_data import env  # noqa: F401
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
