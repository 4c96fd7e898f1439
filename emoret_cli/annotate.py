"""``emoret annotate``: VADER sentiment and NRC emotion counts for captions."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from emoret import api
from emoret_cli.common import hint_reading_stdin

EPILOG = (
    "Example: emoret annotate captions.json | emoret filter --thr 0.6\n\n"
    "Input is a JSON array or JSON lines (a path, or '-' / nothing for stdin)."
)


def COMMAND(
    input: str = typer.Argument("-", help="Captions: JSON array or JSON lines; '-' reads stdin."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write here (atomically) instead of stdout."),
    by_video: bool = typer.Option(False, "--by-video", help="Merge each video's captions (joined with '. ') into one record."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="Processes (default: the machine's cores)."),
    lowercase: bool = typer.Option(
        False, "--lowercase", help="Look NRC words up lowercased ('Happy' counts as 'happy'); default: as written, as the seed did."
    ),
) -> None:
    """Add `sentiment` (VADER) and NRC emotion counts to caption records."""

    hint_reading_stdin(input, "annotate", "caption records", "a file: emoret annotate captions.json")
    api.write_records(api.annotate(input, by_video=by_video, lowercase=lowercase, workers=workers), output)
