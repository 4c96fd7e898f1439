"""The model: equal to base CLIP before training, vip attention, save/load, CLIP-ViP files."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emoret.errors import InputError
from emoret.model import load_model
from emoret.model.preprocess import CLIP_MEAN, CLIP_STD
from emoret.model.tiny import build_tiny_clip
from emoret.model.vision import vip_attention, vip_attention_mask

CAPTIONS = ["a happy dog runs in the park", "a sad man cries alone", "an angry cat hisses", "a calm lake at dawn"]
JOY_AND_ANGER = torch.tensor([[2.0, 0, 0, 0, 0, 0, 1.0, 0]])


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return build_tiny_clip(CAPTIONS, tmp_path_factory.mktemp("base"), seed=0)


@pytest.fixture(scope="module")
def base_clip(base_dir):
    from transformers import AutoTokenizer, CLIPModel

    return CLIPModel.from_pretrained(base_dir).eval(), AutoTokenizer.from_pretrained(base_dir)


def random_frames(batch: int, frames: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_tiny_clip_is_seeded_and_loads_with_transformers(base_dir, base_clip, tmp_path):
    from transformers import CLIPModel

    clip, tokenizer = base_clip
    again = CLIPModel.from_pretrained(build_tiny_clip(CAPTIONS, tmp_path, seed=0))
    other = CLIPModel.from_pretrained(build_tiny_clip(CAPTIONS, tmp_path / "other", seed=1))
    weight = "text_model.embeddings.token_embedding.weight"
    assert torch.equal(clip.state_dict()[weight], again.state_dict()[weight])
    assert not torch.equal(clip.state_dict()[weight], other.state_dict()[weight])
    ids = tokenizer(["a happy dog"])["input_ids"][0]
    assert ids[0] == clip.config.text_config.bos_token_id and ids[-1] == clip.config.text_config.eos_token_id
    assert clip.config.vision_config.image_size == 64 and clip.config.projection_dim == 24


def test_untrained_text_embeddings_equal_base_clip_exactly(base_dir, base_clip):
    clip, tokenizer = base_clip
    model = load_model(base_dir, emotion=True)
    emotions = JOY_AND_ANGER.repeat(len(CAPTIONS), 1)
    ours = model.encode_text(CAPTIONS, emotions)
    tokens = tokenizer(CAPTIONS, padding=True, return_tensors="pt")
    theirs = F.normalize(clip.get_text_features(**tokens).pooler_output, dim=-1)
    assert torch.equal(ours, theirs)


def test_emotion_embedding_adds_mean_of_binarised_rows(base_dir):
    model = load_model(base_dir, emotion=True, emotion_init="normal")
    table = model.clip.text_model.embeddings.emotion_embedding.weight
    assert table.abs().sum() > 0  # the seed's N(0, 1) start
    none = model.encode_text(CAPTIONS[:1], torch.zeros(1, 8))
    plain = model.encode_text(CAPTIONS[:1], None)
    assert torch.equal(none, plain)  # no emotion present: nothing added
    counts = model.encode_text(CAPTIONS[:1], JOY_AND_ANGER)
    binary = model.encode_text(CAPTIONS[:1], (JOY_AND_ANGER > 0).float())
    assert torch.equal(counts, binary)
    assert not torch.allclose(counts, plain)
    # The same bias put in by hand, through the token embeddings:
    from emoret.model.text import emotion_bias

    bias = emotion_bias(model.clip.text_model.embeddings.emotion_embedding, JOY_AND_ANGER)
    assert torch.allclose(bias[0], (table[0] + table[6]) / 2)


def explicit_masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


def test_vip_mask_is_frame_local_for_patches_and_global_for_proxies():
    m, t, n = 4, 3, 2
    mask = vip_attention_mask(m, t, n)
    assert mask.shape == (m + t * n, m + t * n)
    assert mask[:m].all() and mask[:, :m].all()  # proxies see everything and are seen by all
    frame_of = lambda i: (i - m) // n  # noqa: E731
    for i in range(m, m + t * n):
        for j in range(m, m + t * n):
            assert bool(mask[i, j]) == (frame_of(i) == frame_of(j))


def test_vip_attention_equals_plain_attention_under_the_mask():
    m, t, n, heads, dim = 4, 3, 5, 2, 8
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, heads, m + t * n, dim, generator=g) for _ in range(3))
    mask = vip_attention_mask(m, t, n)
    expected = explicit_masked_attention(q, k, v, mask)
    assert torch.allclose(vip_attention(q, k, v, m, t), expected, atol=1e-6)
    assert torch.allclose(F.scaled_dot_product_attention(q, k, v, attn_mask=mask), expected, atol=1e-6)
    unmasked = explicit_masked_attention(q, k, v, torch.ones_like(mask))
    assert not torch.allclose(expected, unmasked, atol=1e-3)  # the mask matters


def test_vip_model_has_new_parameters_fresh_and_handles_any_frame_count(base_dir, base_clip):
    clip, _ = base_clip
    model = load_model(base_dir, video_encoder="vip")
    emb = model.clip.vision_model.embeddings
    assert emb.added_cls.shape == (3, 32) and torch.equal(emb.added_cls[0], clip.vision_model.embeddings.class_embedding)
    assert emb.temporal_embedding.shape == (1, 12, 32) and not emb.temporal_embedding.any()
    for frames in (1, 5, 12):
        video = model.encode_video(random_frames(2, frames))
        assert video.shape == (2, 24) and torch.allclose(video.norm(dim=-1), torch.ones(2))
    for name, tensor in clip.state_dict().items():  # every CLIP weight loaded unchanged
        assert torch.equal(model.clip.state_dict()[name], tensor), name


def test_meanpool_is_the_mean_of_normalised_frame_embeddings(base_dir, base_clip):
    clip, _ = base_clip
    model = load_model(base_dir)
    frames = random_frames(2, 3)
    image = F.normalize(clip.get_image_features(pixel_values=frames.flatten(0, 1)).pooler_output, dim=-1)
    expected = F.normalize(image.view(2, 3, -1).mean(dim=1), dim=-1)
    assert torch.allclose(model.encode_video(frames), expected, atol=1e-6)


def test_preprocess_resizes_crops_and_normalises(base_dir):
    model = load_model(base_dir)
    frames = np.zeros((2, 90, 160, 3), dtype=np.uint8)
    frames[..., 0] = 255
    out = model.preprocess_frames(frames)
    assert out.shape == (2, 3, 64, 64)
    expected = [(1.0 - CLIP_MEAN[0]) / CLIP_STD[0], -CLIP_MEAN[1] / CLIP_STD[1], -CLIP_MEAN[2] / CLIP_STD[2]]
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.tensor(expected), atol=1e-4)


def test_save_and_load_round_trip(base_dir, tmp_path):
    from transformers import CLIPModel

    model = load_model(base_dir, video_encoder="vip", emotion=True, emotion_init="normal", num_frames=4)
    with torch.no_grad():
        model.clip.vision_model.embeddings.temporal_embedding.normal_()
    out = model.save(tmp_path / "model")
    assert {"config.json", "model.safetensors", "emoret.json", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    loaded = load_model(out)
    assert loaded.config.video_encoder == "vip" and loaded.config.emotion and loaded.num_frames == 4
    assert loaded.fingerprint == model.fingerprint and len(model.fingerprint) == 16
    frames = random_frames(2, 4)
    assert torch.equal(loaded.encode_video(frames), model.encode_video(frames))
    assert torch.equal(loaded.encode_text(CAPTIONS, JOY_AND_ANGER.repeat(4, 1)), model.encode_text(CAPTIONS, JOY_AND_ANGER.repeat(4, 1)))
    CLIPModel.from_pretrained(out)  # still a CLIP directory
    with torch.no_grad():
        model.clip.text_projection.weight.add_(1.0)
    assert model.save(tmp_path / "changed") and model.fingerprint != loaded.fingerprint


def make_clipvip_checkpoint(base_dir, path, extra: dict | None = None):
    from transformers import CLIPModel

    clip = CLIPModel.from_pretrained(base_dir)
    state = {f"clipmodel.{k}": v for k, v in clip.state_dict().items()}
    state["clipmodel.vision_model.embeddings.added_cls"] = torch.full((3, 32), 0.5)
    state["clipmodel.vision_model.embeddings.temporal_embedding"] = torch.full((1, 12, 32), 0.25)
    state["clipmodel.text_model.embeddings.position_ids"] = torch.arange(32)[None]
    state.update(extra or {})
    torch.save(state, path)
    return clip


def test_clipvip_checkpoint_loads_every_weight_and_reports_unused(base_dir, caplog):
    path = base_dir / "pretrain_clipvip_tiny.pt"
    clip = make_clipvip_checkpoint(base_dir, path, {"optimizer_step": torch.tensor(7), "clipmodel.extra.head": torch.ones(2)})
    with caplog.at_level(logging.WARNING, logger="emoret"):
        model = load_model(path)
    assert model.config.video_encoder == "vip" and model.num_frames == 12
    assert sorted(model.unused_keys) == ["clipmodel.extra.head", "optimizer_step"]
    assert "clipmodel.extra.head" in caplog.text
    emb = model.clip.vision_model.embeddings
    assert torch.equal(emb.added_cls, torch.full((3, 32), 0.5))
    assert torch.equal(emb.temporal_embedding, torch.full((1, 12, 32), 0.25))
    for name, tensor in clip.state_dict().items():
        assert torch.equal(model.clip.state_dict()[name], tensor), name


class NotATensor:
    pass


def test_bad_checkpoints_are_input_errors(base_dir, tmp_path):
    code = tmp_path / "code.pt"
    torch.save({"clipmodel.x": NotATensor()}, code)
    with pytest.raises(InputError, match=r"holds Python objects beyond tensors \(.*NotATensor\); refused"):
        load_model(code)
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.ones(1)}, plain)
    with pytest.raises(InputError, match="not a CLIP-ViP checkpoint"):
        load_model(plain)
    with pytest.raises(InputError, match="no such file or directory"):
        load_model(str(tmp_path / "missing-model"))
    with pytest.raises(InputError, match="not a model directory"):
        load_model(tmp_path)


def test_seed_checkpoint_keeps_its_emotion_table_in_emoret_order(base_dir, tmp_path, base_clip):
    from emoret.text.emotions import EMOTIONS

    # The seed's table: row i is i times one direction (a constant row would vanish in the
    # layer norm), rows in the seed's order.
    seed_order = ["joy", "trust", "surprise", "anticipation", "fear", "sadness", "disgust", "anger"]
    direction = torch.randn(32, generator=torch.Generator().manual_seed(1))
    table = torch.arange(8, dtype=torch.float32)[:, None] * direction
    path = base_dir / "seed_checkpoint.pt"  # beside the tokenizer files
    make_clipvip_checkpoint(base_dir, path, {"clipmodel.text_model.embeddings.emotion_embedding.weight": table})
    model = load_model(path)
    assert model.unused_keys == ()
    assert model.config.emotion
    loaded = model.clip.text_model.embeddings.emotion_embedding.weight.detach()
    rows = [round(float(v)) for v in loaded[:, 0] / direction[0]]
    assert rows == [seed_order.index(name) for name in EMOTIONS] == [0, 1, 4, 2, 5, 6, 7, 3]
    torch.testing.assert_close(loaded, torch.tensor(rows, dtype=torch.float32)[:, None] * direction)

    # The text embedding adds the mean of the rows present: fear alone is the seed's row 4,
    # joy with anticipation the mean of its rows 0 and 3. Computed here on the plain CLIP.
    clip, tokenizer = base_clip
    tokens = tokenizer(CAPTIONS[:1], return_tensors="pt")

    def plain_with_bias(value: float) -> torch.Tensor:
        hook = clip.text_model.embeddings.register_forward_hook(lambda module, args, out: out + value * direction)
        try:
            with torch.no_grad():
                return F.normalize(clip.get_text_features(**tokens).pooler_output, dim=-1)
        finally:
            hook.remove()

    fear = torch.tensor([[0, 0, 1.0, 0, 0, 0, 0, 0]])
    joy_anticipation = torch.tensor([[2.0, 0, 0, 0, 0, 0, 0, 1.0]])
    with torch.no_grad():
        got_fear = model.encode_text(CAPTIONS[:1], fear)
        got_joy = model.encode_text(CAPTIONS[:1], joy_anticipation)
        plain = model.encode_text(CAPTIONS[:1])
    torch.testing.assert_close(got_fear, plain_with_bias(4.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(got_joy, plain_with_bias(1.5), atol=1e-5, rtol=0)
    torch.testing.assert_close(plain, plain_with_bias(0.0), atol=1e-5, rtol=0)
    assert not torch.allclose(got_fear, plain, atol=1e-3)

    # --no-emotion still loads the file, without its table.
    assert not load_model(path, emotion=False).config.emotion


def test_seed_emotion_table_of_the_wrong_shape_is_an_input_error(base_dir, tmp_path):
    path = base_dir / "bad_table.pt"
    make_clipvip_checkpoint(base_dir, path, {"clipmodel.text_model.embeddings.emotion_embedding.weight": torch.ones(6, 32)})
    with pytest.raises(InputError, match="emotion_embedding.weight has shape"):
        load_model(path)
