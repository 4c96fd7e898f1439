"""``emoret gallery``: a self-contained HTML page of search hits, to look at them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from emoret import api
from emoret_cli.common import fail, hint_reading_stdin, message

EPILOG = (
    'Example: emoret search "a happy dog" --json | emoret gallery -o page.html\n\n'
    "emoret gallery hits.jsonl --frames frames/ -o page.html   (thumbnails from the frame store)\n\n"
    "Without -o the page goes to stdout. Thumbnails are JPEGs inline (data: URIs); each title plays "
    "the video from its moment (file:///…#t=start,end)."
)


def COMMAND(
    hits: str = typer.Argument("-", help="Search hits as JSON lines (from 'emoret search --json'); '-' reads stdin."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The HTML page (default: stdout)."),
    frames: Optional[Path] = typer.Option(None, "--frames", help="Frame store to take thumbnails from (else decoded from the videos)."),
    thumbnails: int = typer.Option(4, "--thumbnails", "-n", min=1, help="Thumbnails a hit."),
    title: str = typer.Option("emoret search", "--title", help="The page's title."),
) -> None:
    """Write an HTML page showing search hits: thumbnails, score, emotions, time, and a link that plays the moment."""
    if frames is not None and not frames.is_dir():
        fail(f"{frames}: not a frame store directory")
    hint_reading_stdin(hits, "gallery", "search hits", "a file: emoret gallery hits.jsonl")
    records = api.read_hits(hits)
    if out is None:
        sys.stdout.buffer.write(api.gallery_page(records, frames, thumbnails, title).encode("utf-8"))
        sys.stdout.flush()
        return
    api.write_gallery(out, records, frames, thumbnails, title)
    message(f"gallery: {len(records)} hits → {out}")
