"""Frames to the model's pixels: CLIP's resize, centre crop and normalisation."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def preprocess_frames(frames: np.ndarray, size: int) -> torch.Tensor:
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"frames must be [T, H, W, 3], got shape {tuple(array.shape)}")
    x = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float().div_(255.0)
    height, width = x.shape[-2:]
    if (height, width) != (size, size):
        scale = size / min(height, width)
        resized = (max(size, round(height * scale)), max(size, round(width * scale)))
        x = F.interpolate(x, size=resized, mode="bicubic", antialias=True, align_corners=False).clamp_(0.0, 1.0)
        top, left = (resized[0] - size) // 2, (resized[1] - size) // 2
        x = x[:, :, top : top + size, left : left + size]
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()
