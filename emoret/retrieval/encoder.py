"""What retrieval needs of a model: the :class:`Encoder` that embed, refresh and search take."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # torch is heavy; only the annotations name it
    import torch


class Encoder(Protocol):
    """Text and video into one embedding space. :class:`emoret.model.EmoretModel` is one."""

    @property
    def embed_dim(self) -> int: ...

    @property
    def num_frames(self) -> int: ...

    @property
    def image_size(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def fingerprint(self) -> str:
        """Names the weights and settings: vectors of two encoders compare only when equal."""
        ...

    def encode_text(self, texts: list[str], emotions: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised [B, D]; ``emotions``: [B, 8] counts or None."""
        ...

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """L2-normalised [B, D] from preprocessed frames [B, T, 3, S, S]."""
        ...

    def preprocess_frames(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 [T, H, W, 3] → float [T, 3, S, S]."""
        ...
