"""--emotion-loss: off by default, moves the emotion table, decreases, and its model loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from emoret.errors import InputError
from emoret.model import load_model
from emoret.model.loss import emotion_alignment
from emoret.model.tiny import build_tiny_clip
from emoret.train.config import make_config
from emoret.train.loop import train

TABLE = "text_model.embeddings.emotion_embedding.weight"
# Four looks, each with its own emotion: the term has something to align.
LOOKS = {"joy": (250, 220, 120), "fear": (15, 15, 25), "sadness": (90, 100, 120), "anger": (150, 20, 10)}
ROW = {"joy": 0, "fear": 2, "sadness": 4, "anger": 6}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("emotion-loss")
    frames = root / "frames"
    frames.mkdir()
    records = []
    for index, (mood, rgb) in enumerate(list(LOOKS.items()) * 2):
        video = np.zeros((4, 40, 40, 3), dtype=np.uint8)
        video[:] = rgb
        video[:, :, : 10 + 5 * index] //= 2
        np.save(frames / f"v{index}.npy", video)
        counts = {name: int(name == mood) for name in LOOKS}
        records.append({"video_id": f"v{index}", "caption": f"a {mood} scene number {index}", **counts})
    captions = root / "captions.jsonl"
    captions.write_text("".join(json.dumps(r) + "\n" for r in records))
    base = build_tiny_clip([r["caption"] for r in records], root / "base", seed=0)
    return {"frames": frames, "captions": captions, "base": base, "records": records}


def settings(data, out, **overrides):
    values = {
        "model": str(data["base"]), "captions": str(data["captions"]), "frames": str(data["frames"]), "out": str(out),
        "num_frames": 4, "batch_size": 8, "epochs": 3, "lr": 3e-3, "lr_new": 3e-2, "warmup": 0.1, "seed": 1,
        "threads": 1,
    }  # fmt: skip
    values.update(overrides)
    return make_config({}, values)


def test_off_by_default_and_checked(data, tmp_path):
    assert settings(data, tmp_path).emotion_loss == 0.0
    with pytest.raises(InputError, match="emotion_loss must not be negative"):
        settings(data, tmp_path, emotion_loss=-1.0)
    with pytest.raises(InputError, match="needs the emotion embedding"):
        settings(data, tmp_path, emotion=False, emotion_loss=1.0)


def _batch(data):
    model = load_model(str(data["base"]), video_encoder="vip", emotion=True, num_frames=4)
    frames = torch.stack(
        [model.preprocess_frames(np.load(data["frames"] / f"{r['video_id']}.npy")) for r in data["records"]]
    )
    emotions = torch.zeros(len(data["records"]), 8)
    for i, record in enumerate(data["records"]):
        for mood, row in ROW.items():
            emotions[i, row] = record[mood]
    return model, frames, emotions


def test_the_term_moves_the_emotion_table_and_decreases_on_a_tiny_batch(data):
    torch.manual_seed(0)
    model, frames, emotions = _batch(data)
    table = model.clip.text_model.embeddings.emotion_embedding.weight
    assert float(table.detach().abs().sum()) == 0.0  # zero-init: the InfoNCE alone would start it from nothing

    def term():
        return emotion_alignment(model.emotion_prototypes(emotions), model.encode_video(frames), emotions,
                                 model.clip.logit_scale)  # fmt: skip

    loss = term()
    loss.backward()
    assert table.grad is not None and float(table.grad[list(ROW.values())].abs().sum()) > 0
    assert float(table.grad[[1, 3, 5, 7]].abs().sum()) == 0  # emotions no caption has stay put
    optimizer = torch.optim.Adam(model.clip.parameters(), lr=1e-2)
    first = float(loss.detach())
    for _ in range(15):
        optimizer.step()
        optimizer.zero_grad()
        loss = term()
        loss.backward()
    assert float(loss.detach()) < 0.8 * first


def test_training_with_the_term_differs_and_its_model_loads(data, tmp_path):
    plain = train(settings(data, tmp_path / "plain"))
    aligned = train(settings(data, tmp_path / "aligned", emotion_loss=2.0))
    assert json.loads((aligned / "train_config.json").read_text())["emotion_loss"] == 2.0
    before, after = load_file(str(plain / "best" / "model.safetensors")), load_file(str(aligned / "best" / "model.safetensors"))
    assert not torch.allclose(before[TABLE], after[TABLE])
    model = load_model(str(aligned))
    assert model.config.emotion
    assert torch.equal(model.clip.text_model.embeddings.emotion_embedding.weight.detach(), after[TABLE])
    emb = model.encode_text(["a joy scene number 0"], torch.tensor([[1, 0, 0, 0, 0, 0, 0, 0]]))
    assert emb.shape == (1, model.embed_dim) and torch.isfinite(emb).all()


def test_cli_flag(data, tmp_path, run_cli):
    out = tmp_path / "cli"
    result = run_cli(
        "train", "--model", data["base"], "--captions", data["captions"], "--frames", data["frames"],
        "--out", out, "--num-frames", "4", "--batch-size", "8", "--epochs", "1", "--threads", "1",
        "--emotion-loss", "0.5",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert json.loads((Path(out) / "train_config.json").read_text())["emotion_loss"] == 0.5
    bad = run_cli("train", "--model", data["base"], "--captions", data["captions"], "--frames", data["frames"],
                  "--out", tmp_path / "bad", "--no-emotion", "--emotion-loss", "1")  # fmt: skip
    assert bad.code == 2 and "Traceback" not in bad.stderr
