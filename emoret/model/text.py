"""The CLIP text encoder with an emotion embedding.

An 8-row table (rows in ``emoret.text.emotions.EMOTIONS`` order) lives at
``text_model.embeddings.emotion_embedding``. A caption's emotion counts are
binarised; the mean of the rows present is added to every token embedding, together
with the position embedding, before the transformer. A caption with no emotion gets
nothing added. The table starts at zero, so an untrained model is exactly its base CLIP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # transformers is heavy; imported where a model is built
    from transformers import CLIPModel

NUM_EMOTIONS = 8


def make_emotion_embedding(hidden_size: int, init: str = "zero", generator: torch.Generator | None = None) -> nn.Embedding:
    table = nn.Embedding(NUM_EMOTIONS, hidden_size)
    with torch.no_grad():
        if init == "zero":
            table.weight.zero_()
        else:  # "normal": N(0, 1), as the seed project started it
            table.weight.normal_(0.0, 1.0, generator=generator)
    return table


def emotion_bias(table: nn.Embedding, emotions: torch.Tensor) -> torch.Tensor:
    """[B, 8] counts → [B, hidden]: the mean of the rows of the emotions present."""
    present = (emotions > 0).to(table.weight.dtype)
    total = present @ table.weight
    return total / present.sum(dim=1, keepdim=True).clamp(min=1.0)


class EmotionText:
    """Runs ``clip.text_model`` with the emotion bias added after its embedding layer.

    A forward hook on the embedding layer adds the bias, so the rest of the text model
    (causal mask, end-of-text pooling) is transformers' own code, unchanged.
    """

    def __init__(self, clip: CLIPModel):
        self.clip: CLIPModel = clip
        self._bias: torch.Tensor | None = None
        clip.text_model.embeddings.register_forward_hook(self._add_bias)

    @property
    def table(self) -> nn.Embedding | None:
        return getattr(self.clip.text_model.embeddings, "emotion_embedding", None)

    def _add_bias(self, module: nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor:
        if self._bias is None:
            return output
        return output + self._bias[:, None, :].to(output.dtype)

    @contextlib.contextmanager
    def _biased(self, bias: torch.Tensor | None) -> Iterator[None]:
        self._bias = bias
        try:
            yield
        finally:
            self._bias = None

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                 emotions: torch.Tensor | None) -> torch.Tensor:
        """Projected (not normalised) text features [B, D]."""
        table = self.table
        bias = None
        if table is not None and emotions is not None:
            bias = emotion_bias(table, emotions.to(table.weight.device))
        with self._biased(bias):
            # The text tower's pooled output through its projection (CLIP's text_projection, SigLIP's head).
            return self.clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
