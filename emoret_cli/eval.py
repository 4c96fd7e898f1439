"""``emoret eval``: the seed's retrieval table, text→video and video→text."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from emoret.records import dumps, read_captions
from emoret.retrieval import embed, metrics
from emoret.retrieval.embed import load_embeddings
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
    if from_embeddings:
        if texts is None or videos is None:
            fail("give both --texts and --videos")
        text_vectors, text_records, video_vectors, video_records = _load(texts, videos)
    else:
        if model_spec is None or captions is None or frames is None:
            fail("--model needs --captions and --frames")
        text_vectors, text_records, video_vectors, video_records = _embed(model_spec, captions, frames, not no_emotion, device)

    if text_vectors.shape[1] != video_vectors.shape[1]:
        fail(f"caption embeddings have dimension {text_vectors.shape[1]}, video embeddings {video_vectors.shape[1]}")
    rows, targets = metrics.match_captions(text_records, video_records)
    if len(rows) == 0:
        fail("no caption's video_id matches a video's")
    if len(rows) < len(text_records):
        message(f"eval: {len(text_records) - len(rows)} captions have no video among the videos and are left out")
    kept = [text_records[row] for row in rows]
    similarity = metrics.similarity_matrix(text_vectors[rows], video_vectors)
    similarity = _with_emotion_term(similarity, kept, video_records, video_emotions, emotion_weight)
    emotional = metrics.emotional_mask(kept)
    if emotional is None:
        message("eval: no record carries 'emotion' (run emoret filter --all); showing all captions only")
    reports = metrics.evaluate_all(similarity, targets, emotional)
    if as_json:
        import sys

        sys.stdout.buffer.write(dumps({name: report.as_dict() for name, report in reports.items()}))
    else:
        print(metrics.format_table(reports))


def _load(texts: str, videos: str):
    text = load_embeddings(texts, "texts")
    video = load_embeddings(videos, "videos")
    if text.meta.get("fingerprint") and video.meta.get("fingerprint") and text.meta["fingerprint"] != video.meta["fingerprint"]:
        fail(f"{text.name} and {video.name} were made by different models")
    return text.vectors, text.records, video.vectors, video.records


def _embed(model_spec: str, captions: str, frames: Path, use_emotion: bool, device: str):
    hint_reading_stdin(captions, "eval", "caption records", "a file: --captions captions.jsonl")
    records = read_captions(captions)
    model = load_model_or_fail(model_spec, device)
    items, _ = embed.items_from_frames(frames)
    with progress() as bar:
        task = bar.add_task("embedding", total=len(records) + len(items))
        emotions = embed.text_emotions(records) if use_emotion else None
        text_vectors = embed.embed_texts(model, [r["caption"] for r in records], emotions,
                                         on_batch=lambda n: bar.advance(task, n))
        video_vectors, video_records = embed.embed_videos(
            model, items, on_item=lambda: bar.advance(task),
            on_failure=lambda f: message(f"emoret: {f.record.get('video_id')}: {f.reason}"),
        )
    return text_vectors, records, video_vectors, video_records


def _with_emotion_term(similarity, captions, video_records, emotions_file, weight):
    """similarity + w · match where the videos' emotions are known (from the file or their records)."""
    from emoret.retrieval import rerank

    if emotions_file is not None:
        from emoret.retrieval.feel.join import attach, read_emotions

        missing = attach(video_records, read_emotions(emotions_file))
        if missing:
            message(f"eval: {missing} of {len(video_records)} videos have no record in --video-emotions")
    known = [record.get("video_emotions") for record in video_records]
    if not any(isinstance(value, dict) for value in known):
        if weight:
            fail("--emotion-weight needs video emotions: pass --video-emotions feel.jsonl")
        return similarity
    weight = rerank.DEFAULT_EMOTION_WEIGHT if weight is None else weight
    if weight == 0:
        message("eval: the emotion term is off (--emotion-weight 0, the default); pass e.g. --emotion-weight 0.1")
        return similarity
    from emoret.retrieval.embed import text_emotions

    message(f"eval: with the emotion term, score = similarity + {weight:g}·match")
    return similarity + weight * rerank.match_matrix(text_emotions(captions), known)
