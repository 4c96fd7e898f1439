"""Random SigLIP and SigLIP 2 models with word-level tokenizers, for tests, demos and benchmarks.

Nothing is downloaded. The tokenizers behave as the real ones do where emoret sees it:

- ``siglip`` (as ``SiglipTokenizer``): ``text </s>``, padded on the right with ``</s>`` to a
  fixed length, and no attention mask for the model (``model_input_names``: input_ids);
- ``siglip2``: transformers' ``Siglip2Tokenizer`` itself (Gemma's BPE, lowercased, padded on
  the left, the attention mask handed to the model) over a small BPE learnt from the captions.

The SigLIP vocabulary is learnt from the given captions' words; the weights are random (seeded), with
SigLIP's initial logit scale ln 10 and bias -10. The directory written loads like a Hugging
Face checkpoint (``--model DIR``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, cast

if TYPE_CHECKING:
    from transformers import PretrainedConfig
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

SIGLIP_TEXT_POSITIONS = 64  # SigLIP's fixed text length
INITIAL_LOG_SCALE = math.log(10.0)  # the SigLIP paper's start: t' = log 10, b = -10
INITIAL_BIAS = -10.0


@dataclass(frozen=True)
class SiglipShape:
    """Tower sizes. ``image_size`` is the fixed-resolution side; NaFlex models take
    ``(image_size // patch_size)²`` patches instead."""

    hidden: int = 32
    layers: int = 2
    heads: int = 2
    intermediate: int = 64
    image_size: int = 64
    patch_size: int = 16
    vocab_size: int = 0  # 0: the tokenizer's


TINY = SiglipShape()
# google/siglip2-base-patch16-224's shapes: 768 wide, 12 layers, 12 heads, 224 px in 16 px
# patches, Gemma's 256,000-row token table.
BASE_PATCH16 = SiglipShape(hidden=768, layers=12, heads=12, intermediate=3072, image_size=224, patch_size=16,
                           vocab_size=256000)


def train_siglip_tokenizer(captions: Iterable[str], family: str = "siglip",
                           max_length: int = SIGLIP_TEXT_POSITIONS) -> PreTrainedTokenizerBase:
    """``siglip``: a WordLevel tokenizer over the captions' words behaving as SigLIP's;
    ``siglip2``: transformers' own ``Siglip2Tokenizer`` over a small BPE learnt from them."""
    if family == "siglip2":
        return _gemma_bpe(list(captions), max_length)
    from tokenizers import Tokenizer, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from tokenizers.trainers import WordLevelTrainer
    from transformers import PreTrainedTokenizerFast

    eos, unk = "</s>", "<unk>"
    backend = Tokenizer(WordLevel(unk_token=unk))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(list(captions), trainer=WordLevelTrainer(special_tokens=[eos, unk], min_frequency=1))
    backend.post_processor = processors.TemplateProcessing(single=f"$A {eos}", special_tokens=[(eos, backend.token_to_id(eos))])
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=eos, pad_token=eos, unk_token=unk,
                                   model_max_length=max_length, padding_side="right", model_input_names=["input_ids"])


def _gemma_bpe(captions: list[str], max_length: int) -> PreTrainedTokenizerBase:
    """SigLIP 2's tokenizer class (Gemma's BPE, lowercased, padded on the left, with the mask)
    over a BPE learnt from the captions (merges kept inside words; printable ASCII beside)."""
    import json
    import string

    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import Siglip2Tokenizer

    space = "\u2581"  # sentencepiece's word mark, which the tokenizer puts for a space
    learner = Tokenizer(models.BPE(unk_token="<unk>"))
    learner.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(" ", space)])
    learner.pre_tokenizer = pre_tokenizers.Split(Regex(space), behavior="merged_with_previous")
    alphabet = list(string.ascii_lowercase + string.digits + string.punctuation) + [space]
    learner.train_from_iterator(captions, trainers.BpeTrainer(
        vocab_size=4096, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"], initial_alphabet=alphabet,
        show_progress=False))
    learnt = json.loads(learner.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(str(m).split(" ")) for m in learnt["merges"]]
    # Pairs, which the tokenizers library takes (transformers' annotation says strings).
    return Siglip2Tokenizer(vocab=learnt["vocab"], merges=cast(Any, merges), model_max_length=max_length)


def siglip_config(family: str, shape: SiglipShape, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    """A SiglipConfig (``siglip``) or Siglip2Config (``siglip2``, NaFlex) of ``shape``."""
    from transformers import Siglip2Config, SiglipConfig

    tower = dict(hidden_size=shape.hidden, intermediate_size=shape.intermediate, num_hidden_layers=shape.layers,
                 num_attention_heads=shape.heads)
    text = dict(tower, vocab_size=shape.vocab_size or len(tokenizer), max_position_embeddings=SIGLIP_TEXT_POSITIONS,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                bos_token_id=tokenizer.eos_token_id)
    if family == "siglip2":
        grid = shape.image_size // shape.patch_size
        return Siglip2Config(text_config=text, vision_config=dict(tower, patch_size=shape.patch_size,
                                                                  num_patches=grid * grid))
    if family != "siglip":
        raise ValueError(f"unknown SigLIP family {family!r}: choose siglip or siglip2")
    return SiglipConfig(text_config=text, vision_config=dict(tower, image_size=shape.image_size,
                                                             patch_size=shape.patch_size))


def build_tiny_siglip(captions: list[str], out_dir: str | os.PathLike[str], family: str = "siglip", seed: int = 0,
                      shape: SiglipShape = TINY) -> Path:
    """Write a random SigLIP (``family`` siglip or siglip2) and a tokenizer trained on
    ``captions`` into ``out_dir`` (tiny by default: 32 wide, 64 px, 16 px patches); return it."""
    import torch
    import transformers

    from emoret.model.load import quiet_transformers

    quiet_transformers()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_siglip_tokenizer(captions, family)
    config = siglip_config(family, shape, tokenizer)
    model_class = getattr(transformers, "Siglip2Model" if family == "siglip2" else "SiglipModel")
    with torch.random.fork_rng(devices=[]):  # seeded here, the caller's random state left as it was
        torch.manual_seed(seed)
        model = model_class(config)
    with torch.no_grad():
        model.logit_scale.fill_(INITIAL_LOG_SCALE)
        model.logit_bias.fill_(INITIAL_BIAS)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
