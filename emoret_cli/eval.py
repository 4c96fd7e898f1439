"""``emoret eval``: the seed's retrieval table, text→video and video→text."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from emoret import api
from emoret_cli.common import fail, hint_reading_stdin, message, progress
from emoret_cli.modelopt import load_model_or_fail

EPILOG = (
    "From embeddings: emoret eval --texts texts --videos videos\n\n"
    "With a model: emoret eval --model model/ --captions emotional.jsonl --frames frames/\n\n"
    "Ranks count ties against the query; 'Emotion' restricts captions and videos to records with emotion: 1."
)


def COMMAND(
    texts: Optional[str] = typer.Option(None, "--texts", help="Caption embeddings NAME (NAME.npy + NAME.jsonl)."),
    videos: Optional[str] = typer.Option(None, "--videos", help="Video embeddings NAME (NAME.npy + NAME.jsonl)."),
    model_spec: Optional[str] = typer.Option(None, "--model", "-m", help="Embed --captions and --frames with this model instead."),
    captions: Optional[str] = typer.Option(None, "--captions", help="Caption records (with --model); '-' reads stdin."),
    frames: Optional[Path] = typer.Option(None, "--frames", help="Frame store (with --model)."),
    no_emotion: bool = typer.Option(False, "--no-emotion", help="With --model: embed captions without emotions."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (with --model)."),
    video_emotions: Optional[Path] = typer.Option(None, "--video-emotions", help="'emoret feel' output: score = similarity + w·match(caption emotions, video emotions), as search does."),
    emotion_weight: Optional[float] = typer.Option(None, "--emotion-weight", min=0.0, help="w for the emotion term (default 0: off, as in search)."),
) -> None:
    """Recall@1/5/10, median and mean rank, for all captions and the emotional ones."""

    from_embeddings = texts is not None or videos is not None
    from_model = model_spec is not None or captions is not None or frames is not None
    if from_embeddings == from_model:
        fail("give --texts and --videos, or --model with --captions and --frames")
    try:
        if from_embeddings:
            if texts is None or videos is None:
                fail("give both --texts and --videos")
            reports = api.evaluate(texts, videos, video_emotions, emotion_weight, message)
        else:
            if model_spec is None or captions is None or frames is None:
                fail("--model needs --captions and --frames")
            reports = _with_model(model_spec, captions, frames, not no_emotion, device, video_emotions, emotion_weight)
    except api.CannotEvaluate as err:
        fail(str(err))
    if as_json:
        import sys

        sys.stdout.buffer.write(api.dumps({name: report.as_dict() for name, report in reports.items()}))
    else:
        print(api.format_table(reports))


def _with_model(model_spec: str, captions: str, frames: Path, use_emotion: bool, device: str,
                video_emotions: Optional[Path], emotion_weight: Optional[float]) -> dict[str, api.Report]:
    hint_reading_stdin(captions, "eval", "caption records", "a file: --captions captions.jsonl")
    records = api.read_captions(captions)
    model = load_model_or_fail(model_spec, device)
    with progress() as bar:
        task = bar.add_task("embedding", total=0)
        return api.evaluate_model(model, records, frames, use_emotion, video_emotions, emotion_weight, message,
                                  on_total=lambda n: bar.update(task, total=n), on_step=lambda n: bar.advance(task, n))
