"""``emoret tsne``: a t-SNE picture of caption and/or video embeddings by emotion."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from emoret.embedding.files import load_embeddings
from emoret.evaluation import plots
from emoret.records import read_jsonl
from emoret.text.emotions import EMOTIONS
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
    plots.figure_format(out)  # refused before the minutes of t-SNE, not after
    wanted = [name.strip().lower() for name in (emotion or ["joy", "fear", "sadness", "anger"])]
    unknown = [name for name in wanted if name not in EMOTIONS]
    if unknown:
        fail(f"--emotion: unknown emotion {unknown[0]!r}: choose from {', '.join(EMOTIONS)}")

    import numpy as np

    by_video = plots.video_emotions(read_jsonl(annotations)) if annotations else None
    parts, kinds, records = [], [], []
    for kind, name in (("text", texts), ("video", videos)):
        if name is None:
            continue
        loaded = load_embeddings(name, f"{kind}s")
        parts.append(loaded.vectors)
        kinds += [kind] * len(loaded.vectors)
        records += loaded.records
    if len(parts) == 2 and parts[0].shape[1] != parts[1].shape[1]:
        fail(f"caption embeddings have dimension {parts[0].shape[1]}, video embeddings {parts[1].shape[1]}")
    if video_emotions is not None:
        if videos is None:
            fail("--video-emotions needs --videos")
        from emoret.perception.join import attach, read_emotions

        video_records = [r for r, kind in zip(records, kinds, strict=False) if kind == "video"]
        missing = attach(video_records, read_emotions(video_emotions))
        if missing:
            message(f"tsne: {missing} of {len(video_records)} videos have no record in --video-emotions")
    elif videos is not None and by_video is None:
        message("tsne: no --annotations: videos are marked by their own records' emotions only")
    flags = plots.emotion_flags(records, by_video)
    if not flags[:, [EMOTIONS.index(name) for name in wanted]].any():
        # Every panel would be the same grey cloud.
        where = f"their records or {annotations}" if annotations else "their records (give --annotations annotated.jsonl)"
        fail(f"nothing to colour by: no point has {', '.join(wanted)} in {where}")
    vectors = np.concatenate(parts)
    try:
        points = plots.tsne_2d(vectors, seed=seed, perplexity=perplexity)
    except ValueError as err:
        fail(str(err))
    plots.tsne_figure(points, kinds, flags, wanted, out, title=f"t-SNE of {len(vectors)} embeddings")
    message(f"tsne: {len(vectors)} points → {out}")
