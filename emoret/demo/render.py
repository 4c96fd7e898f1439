"""Drawing a synthetic scene's frames with numpy."""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from emoret.demo.scenes import COLOURS, Scene

WIDTH, HEIGHT = 320, 240


def render_frames(scene: Scene, width: int = WIDTH, height: int = HEIGHT, fps: int | None = None,
                  duration: float | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 ``[H, W, 3]`` frames of a scene (size and timing overridable for tests)."""
    fps = fps or scene.fps
    duration = duration or scene.duration
    n_frames = max(1, round(fps * duration))
    mood = scene.mood_spec()
    colour = np.array(COLOURS[scene.colour], dtype=np.float32) * mood.object_gain
    # A soft vertical gradient so the background is not one flat colour.
    shade = 1.0 - 0.25 * np.arange(height, dtype=np.float32) / max(1, height - 1)
    column = shade[:, None] * np.array(mood.background, dtype=np.float32)  # [H, 3]
    backgrounds: dict[float, np.ndarray] = {}
    base_radius = 0.16 * min(width, height)
    for index in range(n_frames):
        t = index / n_frames  # 0 .. 1 over the clip
        cx, cy, radius = _placement(scene.motion, t, mood.speed, scene.phase, width, height, base_radius)
        light = _light(mood.effect, t, index)
        if mood.effect == "jitter":
            cx += 0.03 * width * math.sin(index * 2.1)
            cy += 0.03 * height * math.cos(index * 1.7)
        if mood.effect == "wobble":
            radius *= 1.0 + 0.12 * math.sin(2 * math.pi * 3 * t)
        light = round(light, 3)
        if light not in backgrounds:
            row = np.clip(column * light, 0, 255).astype(np.uint8)
            backgrounds[light] = np.ascontiguousarray(np.broadcast_to(row[:, None, :], (height, width, 3)))
        frame = backgrounds[light].copy()
        # Draw only inside the shape's bounding box.
        reach = radius * 1.3
        x0, x1 = max(0, int(cx - reach)), min(width, int(cx + reach) + 2)
        y0, y1 = max(0, int(cy - reach)), min(height, int(cy + reach) + 2)
        if x0 < x1 and y0 < y1:
            ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            mask = _shape_mask(scene.shape, xs - cx, ys - cy, radius)
            paint = np.clip(colour * min(1.0, 0.6 + 0.4 * light), 0, 255).astype(np.uint8)
            frame[y0:y1, x0:x1][mask] = paint
        yield frame


def _placement(motion: str, t: float, speed: float, phase: float, width: int, height: int,
               radius: float) -> tuple[float, float, float]:
    """Centre and radius of the shape at time ``t`` (0..1)."""
    margin_x, margin_y = radius * 1.2, radius * 1.2
    span_x, span_y = width - 2 * margin_x, height - 2 * margin_y
    # Linear motions cover the frame once, at the mood's pace (slow moods go part way).
    progress = min(1.0, t * max(speed, 0.5))
    swing = (t * speed + phase) % 1.0
    if motion == "left":
        return width - margin_x - span_x * progress, height / 2, radius
    if motion == "right":
        return margin_x + span_x * progress, height / 2, radius
    if motion == "up":
        return width / 2, height - margin_y - span_y * progress, radius
    if motion == "down":
        return width / 2, margin_y + span_y * progress, radius
    if motion == "bounce":
        return width / 2, height - margin_y - span_y * abs(math.sin(math.pi * swing * 2)), radius
    if motion == "circle":
        angle = 2 * math.pi * swing
        return width / 2 + 0.35 * span_x * math.cos(angle), height / 2 + 0.35 * span_y * math.sin(angle), radius
    if motion == "grow":
        return width / 2, height / 2, radius * (0.4 + 1.2 * progress)
    if motion == "shrink":
        return width / 2, height / 2, radius * (1.6 - 1.2 * progress)
    raise ValueError(f"unknown motion {motion!r}")


def _light(effect: str, t: float, index: int) -> float:
    """The scene's light level at time ``t``: steady, or the mood's effect."""
    if effect == "flicker":
        return 0.7 + 0.3 * (((index * 7919) % 13) / 12.0)
    if effect == "pulse":
        return 0.75 + 0.25 * math.sin(2 * math.pi * 2 * t)
    if effect == "flash":
        return 3.0 if 0.45 <= t < 0.6 else 1.0
    return 1.0


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    if shape == "circle":
        return dx * dx + dy * dy <= radius * radius
    if shape == "square":
        return (np.abs(dx) <= radius * 0.85) & (np.abs(dy) <= radius * 0.85)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= radius * 1.1
    if shape == "triangle":
        # Point up: inside the apex's two sides and above the base.
        return (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) * 2.0 <= (dy + radius) * 1.15)
    raise ValueError(f"unknown shape {shape!r}")
