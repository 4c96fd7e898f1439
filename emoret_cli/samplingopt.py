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


def check_cutting(segment: float | None, overlap: float) -> None:
    """--segment/--overlap as a command's options (Sampling checks the same, in its own words)."""
    from emoret_cli.common import fail

    if overlap and segment is None:
        fail("--overlap needs --segment")
    if segment is not None and overlap >= segment:
        fail("--overlap must be less than --segment")
