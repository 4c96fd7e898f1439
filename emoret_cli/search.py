"""``emoret search``: ranked videos for a text query."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from emoret.records import dumps
from emoret.retrieval import index as store
from emoret.retrieval import search as searching
from emoret.retrieval.search import hit_record
from emoret.text.emotions import parse_emotion_names
from emoret_cli.common import fail
from emoret_cli.modelopt import load_model_or_fail

EPILOG = (
    'Example: emoret search "my daughter laughing at her birthday party" --top 5\n\n'
    "Scripts: printf 'a dog\\na happy dog\\n' | emoret search - --json\n\n"
    "The index is --index, else $EMORET_INDEX, else ./emoret-index; the model is the one it was built with."
)


def COMMAND(
    query: str = typer.Argument(..., help="The query text; '-' reads one query a line from stdin."),
    top: int = typer.Option(10, "--top", "-k", help="How many videos to return."),
    index_dir: Optional[Path] = typer.Option(None, "--index", "-i", help="Index directory (default $EMORET_INDEX, then ./emoret-index)."),
    model_spec: Optional[str] = typer.Option(None, "--model", "-m", help="Model (default: the one recorded in the index)."),
    ef: Optional[int] = typer.Option(None, "--ef", help="Search breadth (default: the index's, 512): higher finds more true neighbours, slower."),
    emotions: Optional[str] = typer.Option(None, "--emotions", help="Use these emotions, e.g. joy,trust (default: read from the query)."),
    no_emotion: bool = typer.Option(False, "--no-emotion", help="Search without the query's emotions."),
    as_written: bool = typer.Option(
        False, "--as-written", help="Read the query's emotions from its words as written, like 'annotate' ('Happy' counts nothing)."
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON lines (the default when stdout is not a terminal)."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu or cuda (one query gains little from a GPU)."),
) -> None:
    """Find the videos that best match a text query, emotional cues included."""
    if top < 1:
        fail("--top must be at least 1")
    if ef is not None and ef < 1:
        fail("--ef must be at least 1")
    if emotions is not None and no_emotion:
        fail("--emotions and --no-emotion contradict each other")
    if query != "-" and not query.strip():
        fail("the query is empty")
    mode = _emotion_mode(emotions, no_emotion)

    index = store.open_index(searching.index_dir(index_dir))

    model = load_model_or_fail(searching.model_spec_for(index, model_spec), device)
    try:
        searching.check_model(index, model)
    except searching.ModelMismatch as err:
        fail(str(err))

    table = not as_json and _stdout_is_terminal()
    queries = _stdin_queries() if query == "-" else iter([query])
    for text in queries:
        hits = searching.search(index, model, [text], top=top, ef=ef, emotions=mode, lowercase=not as_written)[0]
        read = searching.query_emotion_names(text, mode, lowercase=not as_written)
        if table:
            _print_table(text, read, hits)
        else:
            _print_json(text, read, hits)


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _emotion_mode(emotions: Optional[str], no_emotion: bool):
    if no_emotion:
        return "none"
    if emotions is None:
        return "auto"

    try:
        return parse_emotion_names(emotions)
    except ValueError as err:
        fail(f"--emotions: {err}")


def _stdin_queries():
    for line in sys.stdin:
        text = line.strip()
        if text:
            yield text


def _print_json(query: str, query_emotions: list[str], hits) -> None:
    out = sys.stdout.buffer
    for hit in hits:
        out.write(dumps(hit_record(query, hit, query_emotions)))
    out.flush()


def _print_table(query: str, query_emotions: list[str], hits) -> None:
    from rich.console import Console
    from rich.table import Table

    read = ", ".join(query_emotions) or "none"
    table = Table(title=query, title_justify="left", caption=f"query emotions: {read}", caption_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("score", justify="right")
    table.add_column("video")
    table.add_column("path", overflow="fold")
    table.add_column("duration", justify="right")
    for hit in hits:
        item = hit.item
        duration = item.get("duration")
        table.add_row(
            str(hit.rank),
            f"{hit.score:.3f}",
            str(item.get("video_id") or item.get("video") or ""),
            str(item.get("path") or item.get("source") or item.get("video") or ""),
            f"{float(duration):.1f}s" if isinstance(duration, (int, float)) else "",
        )
    Console().print(table)
