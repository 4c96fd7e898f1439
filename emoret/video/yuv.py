"""RGB to YUV 4:2:0 in integer arithmetic, the same on every machine.

swscale's SIMD paths round differently from its C path and from each other, so the
planes it hands an encoder may depend on the CPU (and on which path a run takes). This
is BT.601 limited range, the conversion swscale applies by default, with fixed rounding.
"""

from __future__ import annotations

import numpy as np


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB (even H and W) → ``[H * 3 // 2, W]`` uint8, PyAV's yuv420p layout:
    the Y plane, then U and V, each ``H/2 × W/2``, flattened one after the other."""
    height, width = rgb.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs even dimensions, got {width}x{height}")
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
    v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128
    planes = [y.astype(np.uint8).reshape(-1)]
    for chroma in (u, v):
        pooled = chroma.reshape(height // 2, 2, width // 2, 2).sum(axis=(1, 3))
        planes.append(((pooled + 2) >> 2).astype(np.uint8).reshape(-1))
    return np.concatenate(planes).reshape(height * 3 // 2, width)
