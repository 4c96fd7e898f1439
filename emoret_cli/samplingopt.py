"""``--sampling``: how a command spreads the frames it takes over a video."""

from __future__ import annotations

from enum import Enum


class Rule(str, Enum):
    linspace = "linspace"
    middle = "middle"


SAMPLING_HELP = (
    "How frames are spread over a video: linspace (default; np.linspace(0, n-1, T), the seed's and "
    "CLIP-ViP's, first and last frames included) or middle (the middle of T equal segments)."
)
