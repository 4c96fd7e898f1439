"""``emoret filter``: keep the emotional captions."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from emoret import api
from emoret_cli.common import fail, hint_reading_stdin, message

EPILOG = (
    "Example: emoret annotate captions.json | emoret filter --thr 0.6 > emotional.jsonl\n\n"
    "Balanced test set: emoret filter annotated.jsonl --balance --seed 0"
)


def COMMAND(
    input: str = typer.Argument("-", help="Records (annotated or not): JSON array or JSON lines; '-' reads stdin."),
    threshold: float = typer.Option(0.6, "--thr", min=0.0, max=1.0, help="Emotional when |VADER compound| > this."),
    keywords: Optional[str] = typer.Option(None, "--keywords", help="Regex replacing the default emotion keyword list."),
    no_keywords: bool = typer.Option(False, "--no-keywords", help="Use the sentiment threshold only."),
    invert: bool = typer.Option(False, "--invert", help="Emit the non-emotional records instead (emotion: 0)."),
    emit_all: bool = typer.Option(False, "--all", help="Emit every record with its emotion flag."),
    balance: bool = typer.Option(False, "--balance", help="Add as many random non-emotional records as emotional ones."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed for --balance."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write here (atomically) instead of stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary on stderr."),
) -> None:
    """Flag records as emotional (|compound| > thr or a keyword) and keep those."""
    import re

    if sum((invert, emit_all, balance)) > 1:
        fail("choose one of --invert, --all and --balance")
    if keywords is not None and no_keywords:
        fail("--keywords and --no-keywords contradict each other")
    mode = "balance" if balance else "all" if emit_all else "neutral" if invert else "emotional"
    summary = api.FilterSummary()
    try:
        flagged = api.filter_captions(input, threshold, keywords, not no_keywords, mode, seed, summary)
    except re.error as err:
        fail(f"--keywords is not a valid regular expression: {err}")

    hint_reading_stdin(input, "filter", "records", "a file: emoret filter annotated.jsonl")
    try:
        api.write_records(flagged, output)
    finally:
        if not quiet:
            message(f"filter: {summary.describe(threshold)}")
