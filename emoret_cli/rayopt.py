"""``--ray [ADDRESS]`` and ``--ray-actors N``: the options of a command that can run on Ray.

typer has no option whose value may be left out, so a bare ``--ray`` is rewritten to
``--ray=`` (empty: a new local Ray, or ``RAY_ADDRESS``'s cluster) before parsing. The word
after ``--ray`` is its ADDRESS only when it looks like one (``auto``, ``local``, HOST:PORT,
ray://...) and is no file: ``emoret embed --ray videos/ ...`` keeps ``videos/`` a video path.
"""

from __future__ import annotations

import re
from pathlib import Path

RAY_HELP = ("Run on Ray (pip install 'emoret[ray]'): alone, a new local Ray (or RAY_ADDRESS's cluster); "
            "--ray auto: the cluster started on this machine with 'ray start'; --ray HOST:PORT or ray://HOST:PORT.")
ACTORS_HELP = "With --ray: models running at once, one an actor (a GPU each with --device cuda)."

_ADDRESS = re.compile(r"^(auto|local|(ray|https?)://\S+|[\w.\-\[\]:]+:\d+)$")


def bare_ray_flag(args: list[str]) -> list[str]:
    """``args`` with a bare ``--ray`` (no ADDRESS after it) written ``--ray=``."""
    out: list[str] = []
    for position, arg in enumerate(args):
        if arg == "--":
            return out + args[position:]
        following = args[position + 1] if position + 1 < len(args) else None
        if arg == "--ray" and not (following and _ADDRESS.match(following) and not Path(following).exists()):
            arg = "--ray="
        out.append(arg)
    return out
