"""A ViT-B/32-shaped emoret model with random weights, for benchmarks (no download).

The shapes are openai/clip-vit-base-patch32's: text 512 wide, 12 layers, 8 heads, 77
positions, a 49,408-row token table; vision 768 wide, 12 layers, 224 px, 32 px patches;
512-d embeddings; quick_gelu. The tokenizer is word-level, learnt from the given captions
(its ids use the first rows of the token table), so queries cost what CLIP's would, give
or take a token or two.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# ../shared from the main checkout; a helper's worktree sits one level deeper.
CAPTION_FILES = [base / "shared" / "data" / "msrvtt_ret_test1k.json" for base in (ROOT.parent, ROOT.parent.parent)]
B32_VOCAB = 49408


def captions() -> list[str]:
    """MSR-VTT 1k-A test captions where ../shared has them, else three of our own."""
    for path in CAPTION_FILES:
        try:
            found = [str(r["caption"]) for r in json.loads(path.read_text())]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if found:
            return found
    return ["a dog runs on the grass", "a happy child laughs at a party", "a storm over the sea at night"]


def build_b32(out: Path, emotion: bool = True, video_encoder: str = "meanpool", num_frames: int = 12) -> Path:
    """Write an emoret model directory of ViT-B/32 shape with random (seeded) weights."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from emoret.model import load_model
    from emoret.model.tiny import train_word_tokenizer

    tokenizer = train_word_tokenizer(captions(), max_length=77)
    config = CLIPConfig(
        text_config=dict(vocab_size=B32_VOCAB, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu",
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=32, hidden_act="quick_gelu"),
        projection_dim=512,
    )
    torch.manual_seed(0)
    base = out / "clip"
    CLIPModel(config).save_pretrained(base)
    tokenizer.save_pretrained(base)
    model = load_model(base, emotion=emotion, emotion_init="normal", video_encoder=video_encoder, num_frames=num_frames)
    model.save(out / "emoret")
    return out / "emoret"
