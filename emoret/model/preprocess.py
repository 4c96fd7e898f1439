"""Frames to the model's pixels, by family: resize, normalisation, and patches for NaFlex.

Every family takes square frames [T, 3, S, S] (a video's frames batch without padding):

- ``crop`` (CLIP): the shorter side to S (bicubic, antialiased), centre crop, CLIP's mean/std;
- ``square`` (SigLIP, SigLIP 2): the whole frame to S×S, as SigLIP's image processor
  resizes, normalised with mean = std = 0.5 (pixels in [-1, 1]).

SigLIP 2's NaFlex models take patches instead of an image: :func:`naflex_inputs` cuts the
square frames into the patch sequence transformers' ``Siglip2Model`` expects (what its
image processor's ``convert_image_to_patches`` makes), with an all-ones
``pixel_attention_mask`` and ``spatial_shapes`` of the square grid. emoret keeps the grid
square and full (S = patch × ⌊√num_patches⌋, 16×16 patches of 16 px for the usual 256):
NaFlex's aspect-preserving variable grids would need padding and a mask per frame, and
video frames of one set share one shape anyway.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from emoret.model.families import CLIP, CLIP_MEAN, CLIP_STD, Family

__all__ = ["CLIP_MEAN", "CLIP_STD", "naflex_inputs", "preprocess_frames"]


def preprocess_frames(frames: np.ndarray, size: int, family: Family = CLIP) -> torch.Tensor:
    """uint8 [T, H, W, 3] → float [T, 3, S, S] as the family's image processor makes them."""
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"frames must be [T, H, W, 3], got shape {tuple(array.shape)}")
    x = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float().div_(255.0)
    height, width = x.shape[-2:]
    if (height, width) != (size, size):
        x = _square(x, size) if family.resize == "square" else _crop(x, size)
    mean = torch.tensor(family.mean).view(1, 3, 1, 1)
    std = torch.tensor(family.std).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def _crop(x: torch.Tensor, size: int) -> torch.Tensor:
    height, width = x.shape[-2:]
    scale = size / min(height, width)
    resized = (max(size, round(height * scale)), max(size, round(width * scale)))
    x = F.interpolate(x, size=resized, mode="bicubic", antialias=True, align_corners=False).clamp_(0.0, 1.0)
    top, left = (resized[0] - size) // 2, (resized[1] - size) // 2
    return x[:, :, top : top + size, left : left + size]


def _square(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp_(0.0, 1.0)


def naflex_inputs(pixels: torch.Tensor, patch: int) -> dict[str, torch.Tensor]:
    """[N, 3, S, S] → ``pixel_values`` [N, g·g, P·P·3] (rows of patches, each row-major with the
    channels last), ``pixel_attention_mask`` [N, g·g] of ones, ``spatial_shapes`` [N, 2] = (g, g)."""
    count, channels, height, width = pixels.shape
    rows, cols = height // patch, width // patch
    patches = pixels.reshape(count, channels, rows, patch, cols, patch).permute(0, 2, 4, 3, 5, 1)
    device = pixels.device
    return {
        "pixel_values": patches.reshape(count, rows * cols, patch * patch * channels),
        "pixel_attention_mask": torch.ones(count, rows * cols, dtype=torch.long, device=device),
        "spatial_shapes": torch.tensor([[rows, cols]] * count, dtype=torch.long, device=device),
    }
