"""What retrieval needs of a model: the :class:`Encoder` that embed and refresh take, and the
:data:`QueryEncoder` that search takes (an Encoder, or the numpy query tower of an index)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # torch is heavy; only the annotations name it
    import torch


class Embeds(Protocol):
    """What every encoder tells of the space it embeds into."""

    @property
    def embed_dim(self) -> int: ...

    @property
    def fingerprint(self) -> str:
        """Names the weights and settings: vectors of two encoders compare only when equal."""
        ...


class TextQueryEncoder(Embeds, Protocol):
    """Queries without torch: :class:`emoret.query.text_numpy.NumpyTextEncoder` is one."""

    def encode_queries(self, texts: Sequence[str], emotions: Sequence[Sequence[float]] | None = None) -> np.ndarray:
        """L2-normalised float32 [B, D]; ``emotions``: [B, 8] counts or None."""
        ...


class Encoder(Embeds, Protocol):
    """Text and video into one embedding space. :class:`emoret.model.EmoretModel` is one."""

    @property
    def source(self) -> str:
        """Where it was loaded from: errors about what it gives name it."""
        ...

    @property
    def num_frames(self) -> int: ...

    @property
    def image_size(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    def encode_text(self, texts: list[str], emotions: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised [B, D]; ``emotions``: [B, 8] counts or None."""
        ...

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """L2-normalised [B, D] from preprocessed frames [B, T, 3, S, S]."""
        ...

    def preprocess_frames(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 [T, H, W, 3] → float [T, 3, S, S]."""
        ...


# What answers a text query: the torch model, or the numpy query tower an index carries.
QueryEncoder = Union[Encoder, TextQueryEncoder]
