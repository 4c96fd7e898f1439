"""EmoretModel: a transformers dual encoder (CLIP, SigLIP, SigLIP 2) with a video encoder
and an emotion-aware text encoder.

The transformers model is kept whole (``self.clip``, whatever its family: the name is kept
for the checkpoints and callers that use it) and its weights keep their names; the new
parameters are attached inside it under CLIP-ViP's names (see vision.py, text.py), so a
saved model directory is also a loadable Hugging Face directory and CLIP-ViP checkpoints
load without renaming. What differs between families is read from their row in
:mod:`emoret.model.families`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # transformers is heavy; imported where a model is built
    from transformers import CLIPModel
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from emoret.atomic import atomic_path, write_bytes_atomic
from emoret.errors import InputError
from emoret.model.config import EmoretConfig
from emoret.model.families import Family, family_named, unknown_family
from emoret.model.preprocess import preprocess_frames
from emoret.model.text import EmotionText, make_emotion_embedding
from emoret.model.vision import (
    add_vip_parameters,
    has_vip_parameters,
    meanpool_features,
    vip_features,
)

log = logging.getLogger("emoret")

WEIGHTS_FILE = "model.safetensors"
INITIAL_LOG_SCALE = math.log(100.0)


class EmoretModel(nn.Module):
    def __init__(
        self,
        clip: CLIPModel,
        tokenizer: PreTrainedTokenizerBase,
        config: EmoretConfig,
        generator: torch.Generator | None = None,
        unused_keys: Sequence[str] = (),
    ):
        super().__init__()
        # Tensors of the loaded checkpoint that no part of the model took (already logged).
        self.unused_keys: tuple[str, ...] = tuple(unused_keys)
        self.source = config.base or "the model"  # where it was loaded from (load_model sets it)
        # A CLIPModel, SiglipModel or Siglip2Model: the attributes emoret uses have the same names.
        self.clip: CLIPModel = clip
        self.family: Family = _family_of(clip, self.source)
        self.tokenizer = tokenizer
        # The text tower gets the attention mask when the tokenizer gives one to the model
        # (transformers' model(**tokenizer(...))): CLIP's and SigLIP 2's do, SigLIP's does not.
        self.text_mask = "attention_mask" in tokenizer.model_input_names
        self.config = config
        config.image_size = _image_size(clip, self.family)
        if config.video_encoder == "vip" and not has_vip_parameters(clip):
            add_vip_parameters(clip, config.num_proxies, config.num_frames)
        embeddings = clip.text_model.embeddings
        if config.emotion and not hasattr(embeddings, "emotion_embedding"):
            width = embeddings.token_embedding.weight.shape[1]
            table = make_emotion_embedding(width, config.emotion_init, generator)
            embeddings.emotion_embedding = table.to(embeddings.token_embedding.weight.device)
        self._text = EmotionText(clip)
        self._fingerprint: str | None = config.fingerprint or None

    # --- attributes of the shared contract -------------------------------------------
    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    @property
    def embed_dim(self) -> int:
        projection = self.clip.get_submodule(self.family.text_projection)
        return int(cast(nn.Linear, projection).out_features)

    @property
    def device(self) -> torch.device:
        return self.clip.logit_scale.device

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.clip.state_dict(), self.config)
        return self._fingerprint

    # --- encoders ----------------------------------------------------------------------
    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Token ids and attention mask [B, L]: L the longest text, or the fixed length SigLIP was trained with."""
        limit = self.clip.text_model.config.max_position_embeddings
        padding = "max_length" if self.family.text_padding == "max_length" else True
        batch = self.tokenizer(list(texts), padding=padding, truncation=True, max_length=limit,
                               return_attention_mask=True, return_tensors="pt")
        return {"input_ids": batch["input_ids"].to(self.device), "attention_mask": batch["attention_mask"].to(self.device)}

    def text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      emotions: torch.Tensor | None = None) -> torch.Tensor:
        """Projected text features [B, D], not normalised."""
        return self._text.features(input_ids, attention_mask if self.text_mask else None, emotions)

    def video_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Projected video features [B, D] from [B, T, 3, S, S], not normalised."""
        frames = frames.to(self.device)
        if self.config.video_encoder == "vip":
            return vip_features(self.clip, frames)
        patch = int(self.clip.vision_model.config.patch_size) if self.family.patch_inputs else 0
        return meanpool_features(self.clip, frames, naflex_patch=patch)

    def encode_text(self, texts: list[str], emotions: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised [B, D]. ``emotions``: [B, 8] counts (binarised inside) or None."""
        tokens = self.tokenize(texts)
        if emotions is not None:
            emotions = torch.as_tensor(emotions, dtype=torch.float32, device=self.device)
        return F.normalize(self.text_features(tokens["input_ids"], tokens["attention_mask"], emotions), dim=-1)

    def emotion_prototypes(self, emotions: torch.Tensor) -> torch.Tensor:
        """L2-normalised [B, D] features of an empty caption carrying each row's emotions:
        what the emotion table alone says (``--emotion-loss`` aligns them with videos)."""
        emotions = torch.as_tensor(emotions, dtype=torch.float32, device=self.device)
        tokens = self.tokenize([""] * emotions.shape[0])
        return F.normalize(self.text_features(tokens["input_ids"], tokens["attention_mask"], emotions), dim=-1)

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """L2-normalised [B, D] from preprocessed frames [B, T, 3, S, S]."""
        return F.normalize(self.video_features(frames), dim=-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, emotions: torch.Tensor | None,
                frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(text [B, D], video [B, D], log logit scale): what training needs in one call."""
        text = F.normalize(self.text_features(input_ids, attention_mask, emotions), dim=-1)
        video = F.normalize(self.video_features(frames), dim=-1)
        return text, video, self.clip.logit_scale

    def preprocess_frames(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 [T, H, W, 3] → float [T, 3, S, S]: the family's resize and normalisation."""
        return preprocess_frames(frames, self.image_size, self.family)

    # --- persistence -------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write a model directory: config.json, model.safetensors, tokenizer, emoret.json.

        Each file is replaced atomically; emoret.json, carrying the fingerprint, comes last.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").contiguous() for k, v in self.clip.state_dict().items()}
        write_bytes_atomic(out / "config.json", self.clip.config.to_json_string().encode())
        with atomic_path(out / WEIGHTS_FILE) as tmp:
            _save_safetensors(state, tmp, out / WEIGHTS_FILE)
        self.tokenizer.save_pretrained(out)
        self._fingerprint = weights_fingerprint(state, self.config)
        self.config.fingerprint = self._fingerprint
        weights = (out / WEIGHTS_FILE).stat()
        self.config.weights_size, self.config.weights_mtime_ns = weights.st_size, weights.st_mtime_ns
        self.config.save(out)
        return out


def _family_of(backbone: nn.Module, source: str) -> Family:
    model_type = getattr(getattr(backbone, "config", None), "model_type", None)
    family = family_named(str(model_type))
    if family is None:
        raise InputError(source, unknown_family(model_type))
    return family


def _image_size(backbone: CLIPModel, family: Family) -> int:
    """The side of the square frames the vision tower takes (NaFlex: its full square patch grid)."""
    vision = backbone.vision_model.config
    if family.patch_inputs:
        return int(vision.patch_size) * math.isqrt(int(vision.num_patches))
    return int(vision.image_size)


def _save_safetensors(state: dict[str, torch.Tensor], tmp: str, target: Path) -> None:
    """safetensors reports a full disk as SafetensorError("... (os error 28)"): make it the OSError it is."""
    import re

    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(state, tmp, metadata={"format": "pt"})
    except SafetensorError as err:
        code = re.search(r"os error (\d+)", str(err))
        if code is None:
            raise
        number = int(code.group(1))
        raise OSError(number, os.strerror(number), str(target)) from None


def weights_fingerprint(state: dict[str, torch.Tensor], config: EmoretConfig) -> str:
    """sha256 over the encoder settings and every tensor (name, dtype, shape, bytes)."""
    digest = hashlib.sha256(json.dumps(config.identity(), sort_keys=True).encode())
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
