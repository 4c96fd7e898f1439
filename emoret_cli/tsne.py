"""``emoret tsne``: a t-SNE picture of caption and/or video embeddings by emotion."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from emoret import api
from emoret_cli.common import fail, message

EPILOG = (
    "Example: emoret tsne --texts texts --videos videos --annotations annotated.jsonl "
    "--emotion joy --emotion fear -o tsne.png"
)


def COMMAND(
    texts: Optional[str] = typer.Option(None, "--texts", help="Caption embeddings NAME (NAME.npy + NAME.jsonl)."),
    videos: Optional[str] = typer.Option(None, "--videos", help="Video embeddings NAME."),
    annotations: Optional[str] = typer.Option(None, "--annotations", help="Annotated captions: gives videos their captions' emotions."),
    emotion: Optional[List[str]] = typer.Option(None, "--emotion", "-e", help="A panel for this emotion (repeat; default joy, fear, sadness, anger)."),
    out: Path = typer.Option(Path("tsne.png"), "--out", "-o", help="Figure to write: PNG, or the format its suffix names (.pdf, .svg, .jpg, ...)."),
    seed: int = typer.Option(0, "--seed", min=0, help="t-SNE random seed."),
    perplexity: float = typer.Option(30.0, "--perplexity", min=1.0, help="t-SNE perplexity (capped for few points)."),
    video_emotions: Optional[str] = typer.Option(None, "--video-emotions", help="'emoret feel' output: mark videos by their own strongest emotion, not their captions'."),
) -> None:
    """Plot t-SNE of embeddings, one panel per emotion against the rest."""
    if texts is None and videos is None:
        fail("give --texts and/or --videos")
    wanted = [name.strip().lower() for name in (emotion or ["joy", "fear", "sadness", "anger"])]
    unknown = [name for name in wanted if name not in api.EMOTIONS]
    if unknown:
        fail(f"--emotion: unknown emotion {unknown[0]!r}: choose from {', '.join(api.EMOTIONS)}")
    if video_emotions is not None and videos is None:
        fail("--video-emotions needs --videos")
    try:
        count = api.plot_tsne(out, texts, videos, annotations, wanted, video_emotions, seed, perplexity, message)
    except api.CannotPlot as err:
        fail(str(err))
    message(f"tsne: {count} points → {out}")
