"""Reading CLIP-ViP's released checkpoints (``pretrain_clipvip_base_32.pt`` style).

Such a file is a plain state dict: the CLIP weights under the ``clipmodel.`` prefix,
transformers-CLIP names after it, the video proxies as
``clipmodel.vision_model.embeddings.added_cls`` and the temporal embedding as
``clipmodel.vision_model.embeddings.temporal_embedding``. The seed project's checkpoints
add their trained emotion table as ``clipmodel.text_model.embeddings.emotion_embedding.weight``,
rows in the seed's own emotion order (mapped to emoret's on load). It is read with
``torch.load(weights_only=True)``: tensors only, no code is unpickled.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import CLIPConfig
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from emoret.errors import InputError

CLIPVIP_PREFIX = "clipmodel."
HEAD_DIM = 64  # every released CLIP: 768 / 12 heads, 512 / 8 heads
# Buffers that old transformers saved and newer ones rebuild: dropping them loses nothing.
DERIVED_BUFFERS = re.compile(r"(^|\.)position_ids$")
EMOTION_TABLE = "text_model.embeddings.emotion_embedding.weight"
# The seed's dataset code numbered the emotions in this order, so its table's rows follow it.
SEED_EMOTION_ORDER = ("joy", "trust", "surprise", "anticipation", "fear", "sadness", "disgust", "anger")


def read_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a ``.pt`` file (unwrapping a ``model`` / ``state_dict`` entry)."""
    from emoret.model.tensor_file import load_tensors

    source = str(path)
    raw = load_tensors(path, "CLIP-ViP checkpoint", "; a model is a hub id, a CLIP or emoret directory, or a .pt file")
    for wrapper in ("model", "state_dict", "module"):
        if isinstance(raw, dict) and isinstance(raw.get(wrapper), dict):
            raw = raw[wrapper]
    if not isinstance(raw, dict):
        raise InputError(source, "not a state dict")
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def split_clipvip(state: dict[str, torch.Tensor], source: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(CLIP-named tensors, keys outside the ``clipmodel.`` prefix)."""
    clip_state = {k[len(CLIPVIP_PREFIX) :]: v for k, v in state.items() if k.startswith(CLIPVIP_PREFIX)}
    if not clip_state:
        raise InputError(source, f"not a CLIP-ViP checkpoint: no '{CLIPVIP_PREFIX}' keys")
    others = sorted(k for k in state if not k.startswith(CLIPVIP_PREFIX))
    return clip_state, others


def take_emotion_table(clip_state: dict[str, torch.Tensor], source: str) -> torch.Tensor | None:
    """Remove the seed's trained emotion table from ``clip_state``; return it with its rows in
    ``EMOTIONS`` order (None when the checkpoint has none)."""
    from emoret.text.emotions import EMOTIONS

    table = clip_state.pop(EMOTION_TABLE, None)
    if table is None:
        return None
    if table.ndim != 2 or table.shape[0] != len(SEED_EMOTION_ORDER):
        raise InputError(source, f"{CLIPVIP_PREFIX}{EMOTION_TABLE} has shape {tuple(table.shape)}, expected (8, width)")
    rows = [SEED_EMOTION_ORDER.index(name) for name in EMOTIONS]
    return table[rows].clone()


def _layers(state: dict[str, torch.Tensor], tower: str) -> int:
    pattern = re.compile(rf"^{tower}\.encoder\.layers\.(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


def infer_clip_config(state: dict[str, torch.Tensor], tokenizer: PreTrainedTokenizerBase, source: str) -> CLIPConfig:
    """A CLIPConfig for the tensors' shapes (heads assume CLIP's 64-wide heads)."""
    from transformers import CLIPConfig

    try:
        vision_width = state["vision_model.embeddings.class_embedding"].shape[0]
        patch = state["vision_model.embeddings.patch_embedding.weight"].shape[-1]
        positions = state["vision_model.embeddings.position_embedding.weight"].shape[0]
        vocab, text_width = state["text_model.embeddings.token_embedding.weight"].shape
        text_positions = state["text_model.embeddings.position_embedding.weight"].shape[0]
        projection = state["text_projection.weight"].shape[0]
        vision_mlp = state["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0]
        text_mlp = state["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0]
    except KeyError as err:
        raise InputError(source, f"CLIP-ViP checkpoint lacks {CLIPVIP_PREFIX}{err.args[0]}") from None
    grid = round((positions - 1) ** 0.5)
    return CLIPConfig(
        text_config=dict(
            vocab_size=vocab,
            hidden_size=text_width,
            intermediate_size=text_mlp,
            num_hidden_layers=_layers(state, "text_model"),
            num_attention_heads=max(1, text_width // HEAD_DIM),
            max_position_embeddings=text_positions,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=vision_width,
            intermediate_size=vision_mlp,
            num_hidden_layers=_layers(state, "vision_model"),
            num_attention_heads=max(1, vision_width // HEAD_DIM),
            image_size=grid * patch,
            patch_size=patch,
        ),
        projection_dim=projection,
    )


def load_into(clip: torch.nn.Module, clip_state: dict[str, torch.Tensor], source: str) -> list[str]:
    """Copy the tensors into ``clip``; every CLIP weight must be present. Returns the unused keys."""
    expected = clip.state_dict()
    missing = sorted(k for k in expected if k not in clip_state)
    if missing:
        raise InputError(source, f"CLIP-ViP checkpoint lacks {CLIPVIP_PREFIX}{missing[0]} ({len(missing)} missing)")
    unused = []
    for key, tensor in clip_state.items():
        if key not in expected:
            if not DERIVED_BUFFERS.search(key):
                unused.append(CLIPVIP_PREFIX + key)
            continue
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise InputError(
                source, f"{CLIPVIP_PREFIX}{key} has shape {tuple(tensor.shape)}, expected {tuple(expected[key].shape)}"
            )
    clip.load_state_dict({k: v for k, v in clip_state.items() if k in expected}, strict=True)
    return unused


def sibling_files(path: str | os.PathLike) -> Path:
    """The directory of a checkpoint file: where its config.json / tokenizer may sit."""
    return Path(path).resolve().parent
