"""Emotion read from the videos themselves: the scene (zero-shot through the model's towers)
and the faces (a detector and a facial-expression classifier), combined per video."""

from __future__ import annotations

from emoret.text.emotions import EMOTIONS

# The nine video-emotion keys: the eight NRC emotions, then neutral.
VIDEO_EMOTIONS: tuple[str, ...] = EMOTIONS + ("neutral",)
