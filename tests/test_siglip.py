"""SigLIP and SigLIP 2 bases through the same model, commands and numpy query path as CLIP.

Tiny random models built in code (emoret.model.tiny_siglip), loaded by directory and by
hub id from an offline cache.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from retrieval_data import CAPTIONS, all_captions, build_frames, caption_records, write_captions
from test_hub_models import hub_cache

from emoret.errors import InputError
from emoret.model import load_model
from emoret.model.families import SIGLIP, SIGLIP2
from emoret.model.preprocess import naflex_inputs, preprocess_frames
from emoret.model.tiny_siglip import build_tiny_siglip
from emoret.query import export
from emoret.query.text_numpy import NumpyTextEncoder

FAMILIES = ("siglip", "siglip2")
JOY_AND_FEAR = torch.tensor([[1, 0, 2, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 3, 1]])
TEXTS = ["a happy dog plays in the park", "", "A scary storm over the sea!"]


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("siglip")
    return {family: build_tiny_siglip(all_captions(), root / family, family=family, seed=1) for family in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_the_family_comes_from_the_config(bases, family):
    model = load_model(bases[family])
    assert model.family.name == family
    assert model.image_size == 64 and model.embed_dim == 32
    tokens = model.tokenize(["a dog", "a happy dog plays in the park"])
    assert tokens["input_ids"].shape == (2, 64)  # SigLIP's fixed length, whatever the texts' lengths


def test_siglip_resizes_the_whole_frame_and_scales_to_minus_one_one():
    frame = np.zeros((1, 40, 80, 3), np.uint8)
    frame[:, :, :40] = 255  # left half white, right half black
    pixels = preprocess_frames(frame, 64, SIGLIP)
    assert pixels.shape == (1, 3, 64, 64)
    # Squeezed, not cropped: the left columns white (+1), the right black (-1); CLIP's crop keeps the middle.
    assert torch.allclose(pixels[0, :, :, :8], torch.ones(3, 64, 8), atol=1e-6)
    assert torch.allclose(pixels[0, :, :, -8:], -torch.ones(3, 64, 8), atol=1e-6)


def test_siglip2_inputs_are_what_its_image_processor_makes():
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    theirs = Siglip2ImageProcessorPil(max_num_patches=16, patch_size=16)(images=[frame], return_tensors="pt")
    ours = naflex_inputs(preprocess_frames(frame[None], 64, SIGLIP2), 16)
    assert torch.equal(ours["pixel_values"], theirs["pixel_values"])
    assert torch.equal(ours["spatial_shapes"], theirs["spatial_shapes"])
    assert torch.equal(ours["pixel_attention_mask"], theirs["pixel_attention_mask"].long())


def test_siglip_pixels_are_close_to_its_image_processor():
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    blocks = np.random.default_rng(0).integers(0, 256, (10, 20, 3))
    frame = np.kron(blocks, np.ones((4, 4, 1))).astype(np.uint8)  # 40 x 80: squeezed to 64 x 64
    theirs = SiglipImageProcessorPil(size={"height": 64, "width": 64})(images=[frame], return_tensors="pt")
    ours = preprocess_frames(frame[None], 64, SIGLIP)
    # PIL resizes in uint8, torch in float: equal but for rounding.
    assert float((ours - theirs["pixel_values"]).abs().mean()) < 0.01


@pytest.mark.parametrize("family", FAMILIES)
def test_video_features_are_the_transformers_image_features_averaged(bases, family):
    model = load_model(bases[family])
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    pixels = model.preprocess_frames(frames)
    with torch.no_grad():
        video = model.encode_video(pixels[None])[0]
        if family == "siglip2":
            images = model.clip.get_image_features(**naflex_inputs(pixels, 16)).pooler_output
        else:
            images = model.clip.get_image_features(pixel_values=pixels).pooler_output
    expected = torch.nn.functional.normalize(torch.nn.functional.normalize(images, dim=-1).mean(0), dim=0)
    assert torch.allclose(video, expected, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_zero_init_emotion_table_leaves_the_text_embeddings_unchanged(bases, family):
    base = load_model(bases[family])
    emotional = load_model(bases[family], emotion=True)  # zero-init table
    with torch.no_grad():
        plain = base.encode_text(TEXTS)
        with_emotions = emotional.encode_text(TEXTS, JOY_AND_FEAR)
        emotional.clip.text_model.embeddings.emotion_embedding.weight.normal_()
        trained = emotional.encode_text(TEXTS, JOY_AND_FEAR)
    assert torch.equal(plain, with_emotions)
    assert not torch.allclose(plain[0], trained[0])  # the table does reach the text once it is not zero


@pytest.mark.parametrize("family", FAMILIES)
def test_the_numpy_text_tower_equals_torch(bases, family, tmp_path):
    model = load_model(bases[family], emotion=True, emotion_init="normal")
    worst = export.export_text_tower(model, tmp_path)
    assert worst >= export.MIN_COSINE
    encoder = NumpyTextEncoder.load(tmp_path)
    rows = JOY_AND_FEAR.tolist()
    ours = encoder.encode_queries(TEXTS, rows)
    with torch.no_grad():
        theirs = model.encode_text(TEXTS, JOY_AND_FEAR).numpy()
    np.testing.assert_allclose(ours, theirs, atol=2e-5)
    config = json.loads((tmp_path / "text_tower.json").read_text())
    assert config["pooling"] == "last" and config["pad_to"] == 64
    assert config["text_mask"] is (family == "siglip2")  # SigLIP's tokenizer gives its model no mask


def test_vip_needs_a_clip_base(bases):
    with pytest.raises(InputError, match="vip video encoder needs a CLIP base; this model is SigLIP"):
        load_model(bases["siglip"], video_encoder="vip")


def test_unknown_model_type_is_named(bases, tmp_path):
    import shutil

    copy = tmp_path / "other"
    shutil.copytree(bases["siglip"], copy)
    config = json.loads((copy / "config.json").read_text())
    config["model_type"] = "blip"
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="model_type 'blip' is not a family emoret loads"):
        load_model(copy)


def test_sigmoid_loss_is_transformers_siglip_loss(bases):
    from emoret.model.loss import pairwise_sigmoid

    model = load_model(bases["siglip"])
    tokens = model.tokenize(TEXTS)
    pixels = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        out = model.clip(input_ids=tokens["input_ids"], pixel_values=pixels, return_loss=True)
        ours = pairwise_sigmoid(out.text_embeds, out.image_embeds, model.clip.logit_scale, model.clip.logit_bias)
    assert torch.allclose(ours, out.loss, atol=1e-5)


@pytest.fixture(scope="module")
def siglip_env(bases, tmp_path_factory):
    """Per family: an emoret model dir (emotion table, 3 frames), a frame store and captions."""
    root = tmp_path_factory.mktemp("siglip-env")
    frames = build_frames(root)
    captions = write_captions(root / "captions.jsonl", caption_records())
    models = {}
    for family in FAMILIES:
        model = load_model(bases[family], emotion=True, emotion_init="normal", num_frames=3)
        models[family] = model.save(root / f"emo-{family}")
    return {"frames": frames, "captions": captions, "models": models, "root": root}


def _end_to_end(run_cli, model: str, env: dict, out, plot: bool = False) -> None:
    """embed → index → search → eval, feel (and tsne with ``plot``) with ``--model``; asserts each step."""
    videos, texts, idx = out / "videos", out / "texts", out / "idx"
    for args in (("--frames", env["frames"], "--out", videos), ("--texts", env["captions"], "--out", texts)):
        result = run_cli("embed", "--model", model, *args, "--device", "cpu")
        assert result.code == 0, result.stderr
    built = run_cli("index", videos, "--model", model, "--out", idx)
    assert built.code == 0, built.stderr
    assert (idx / "text_tower.json").exists()  # the cold search stays torch-free
    numpy_hits = run_cli("search", "a happy dog plays in the park", "--index", idx, "--top", "6")
    torch_hits = run_cli("search", "a happy dog plays in the park", "--index", idx, "--top", "6", "--model", model)
    assert numpy_hits.code == 0 and torch_hits.code == 0, numpy_hits.stderr + torch_hits.stderr
    assert [h["video_id"] for h in numpy_hits.records] == [h["video_id"] for h in torch_hits.records]
    np.testing.assert_allclose([h["score"] for h in numpy_hits.records], [h["score"] for h in torch_hits.records],
                               atol=1e-4)
    evaluated = run_cli("eval", "--texts", texts, "--videos", videos, "--json")
    assert evaluated.code == 0, evaluated.stderr
    figures = evaluated.records[0]["all"]
    assert figures["t2v"]["count"] == 12 and 1 <= figures["t2v"]["MnR"] <= len(CAPTIONS)
    if plot:
        annotations = write_captions(out / "ann.jsonl", [{**r, "joy": int("happy" in r["caption"])}
                                                         for r in caption_records()])
        plotted = run_cli("tsne", "--texts", texts, "--videos", videos, "--annotations", annotations, "-e", "joy",
                          "-o", out / "tsne.png", "--perplexity", "5")
        assert plotted.code == 0 and (out / "tsne.png").stat().st_size > 0, plotted.stderr
    felt = run_cli("feel", "--frames", env["frames"], "--model", model, "--no-faces")
    assert felt.code == 0, felt.stderr
    assert len(felt.records) == len(CAPTIONS) and all("video_emotions" in r for r in felt.records)


@pytest.mark.parametrize("family", FAMILIES)
def test_commands_run_end_to_end_from_a_directory(siglip_env, family, run_cli, tmp_path):
    _end_to_end(run_cli, str(siglip_env["models"][family]), siglip_env, tmp_path, plot=family == "siglip2")


@pytest.mark.parametrize("family", FAMILIES)
def test_commands_run_end_to_end_from_an_offline_hub_cache(siglip_env, family, run_cli, tmp_path):
    repo_id = f"tiny-org/tiny-{family}"
    home = hub_cache(tmp_path, siglip_env["models"][family], repo_id)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(home))
        patch.delenv("HF_HUB_CACHE", raising=False)
        patch.setenv("HF_HUB_OFFLINE", "1")
        _end_to_end(run_cli, repo_id, siglip_env, tmp_path)
        model = load_model(repo_id)
    assert model.family.name == family


def test_python_api_embeds_with_a_siglip2_base(siglip_env):
    from emoret.model.factory import ModelOptions, create_model

    model = create_model(siglip_env["models"]["siglip2"], ModelOptions(device="cpu"))
    assert model.family is SIGLIP2 and model.config.emotion
    with torch.no_grad():
        vectors = model.encode_text(["a dog"], torch.tensor([[1, 0, 0, 0, 0, 0, 0, 0]]))
    assert vectors.shape == (1, 32) and torch.isclose(vectors.norm(), torch.tensor(1.0))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_short_train_lowers_the_sigmoid_loss(family, tmp_path, run_cli):
    from test_train import write_dataset

    data = write_dataset(tmp_path / "data")
    captions = [json.loads(line)["caption"] for line in data["captions"].read_text().splitlines()]
    base = build_tiny_siglip(captions, tmp_path / "base", family=family, seed=0)
    common = ("train", "--model", base, "--captions", data["captions"], "--frames", data["frames"],
              "--num-frames", "4", "--batch-size", "4", "--lr", "3e-3", "--lr-new", "3e-3", "--threads", "1")
    refused = run_cli(*common, "--out", tmp_path / "vip", "--epochs", "1")  # train's default encoder is vip
    assert refused.code == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "needs a CLIP base" in refused.stderr and "meanpool" in refused.stderr
    out = tmp_path / "model"
    result = run_cli(*common, "--out", out, "--epochs", "4", "--video-encoder", "meanpool")
    assert result.code == 0, result.stderr
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    epochs = [r for r in records if "train_loss" in r]
    assert {r["objective"] for r in steps} == {"sigmoid"}
    assert steps[0]["temperature"] == pytest.approx(0.1, rel=0.05)  # SigLIP's own scale (10), not reset
    assert steps[-1]["logit_bias"] != steps[0]["logit_bias"]  # the bias learns
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    trained = load_model(out)
    assert trained.family.name == family and trained.config.video_encoder == "meanpool"
