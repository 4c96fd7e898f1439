"""A tiny randomly initialised CLIP with a word-level tokenizer, for tests and demos.

Nothing is downloaded: the tokenizer's vocabulary is learnt from the given captions,
and the weights are random (seeded). The directory it writes loads like any Hugging
Face CLIP checkpoint (``CLIPModel.from_pretrained``, ``AutoTokenizer.from_pretrained``,
``--model DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from transformers import CLIPConfig, PreTrainedTokenizerFast

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
TINY_TEXT_POSITIONS = 32


def train_word_tokenizer(captions: Iterable[str], max_length: int = TINY_TEXT_POSITIONS) -> PreTrainedTokenizerFast:
    """A lowercase WordLevel tokenizer over the captions' words, adding <bos> ... <eos>."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from tokenizers.trainers import WordLevelTrainer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(WordLevel(unk_token=UNK))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = WordLevelTrainer(special_tokens=[PAD, UNK, BOS, EOS], min_frequency=1)
    backend.train_from_iterator(list(captions), trainer=trainer)
    bos_id, eos_id = backend.token_to_id(BOS), backend.token_to_id(EOS)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}",
        special_tokens=[(BOS, bos_id), (EOS, eos_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=max_length,
    )


def tiny_clip_config(vocab_size: int, bos_id: int, eos_id: int, pad_id: int, hidden: int = 32) -> CLIPConfig:
    from transformers import CLIPConfig

    return CLIPConfig(
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=hidden,
            intermediate_size=hidden * 2,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=TINY_TEXT_POSITIONS,
            bos_token_id=bos_id,
            eos_token_id=eos_id,
            pad_token_id=pad_id,
        ),
        vision_config=dict(
            hidden_size=hidden,
            intermediate_size=hidden * 2,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=64,
            patch_size=16,
        ),
        projection_dim=24,
    )


def build_tiny_clip(captions: list[str], out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Write a tiny random CLIP (hidden 32, 64 px images, 16 px patches, 24-d embeddings)
    and a tokenizer trained on ``captions`` into ``out_dir``; return the directory."""
    import torch
    from transformers import CLIPModel

    from emoret.model.load import quiet_transformers

    quiet_transformers()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_word_tokenizer(captions)
    config = tiny_clip_config(
        vocab_size=len(tokenizer),
        bos_id=tokenizer.bos_token_id,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):  # seeded here, the caller's random state left as it was
        torch.manual_seed(seed)
        model = CLIPModel(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
