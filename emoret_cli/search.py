"""``emoret search``: ranked videos for a text query."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import typer

from emoret import api
from emoret_cli.common import fail, hint_reading_stdin, message

EPILOG = (
    'Example: emoret search "my daughter laughing at her birthday party" --top 5\n\n'
    "Scripts: printf 'a dog\\na happy dog\\n' | emoret search - --json\n\n"
    "Long videos: each hit is a video's best moment (start, end in seconds); --per-video 3 shows three a video.\n\n"
    "Look at the hits: emoret search \"a happy dog\" --html page.html, or --json | emoret gallery -o page.html\n\n"
    "The index is --index, else $EMORET_INDEX, else ./emoret-index; the model is the one it was built with."
)


def COMMAND(
    query: str = typer.Argument(..., help="The query text; '-' reads one query a line from stdin."),
    top: int = typer.Option(10, "--top", "-k", min=1, help="How many videos to return."),
    per_video: int = typer.Option(1, "--per-video", min=0, help="Best moments shown a video (0: every moment on its own)."),
    html_page: Optional[Path] = typer.Option(None, "--html", help="Also write the hits as an HTML page with thumbnails."),
    frames: Optional[Path] = typer.Option(None, "--frames", help="With --html: frame store to take thumbnails from."),
    index_dir: Optional[Path] = typer.Option(None, "--index", "-i", help="Index directory (default $EMORET_INDEX, then ./emoret-index)."),
    model_spec: Optional[str] = typer.Option(None, "--model", "-m", help="Model (default: the one recorded in the index)."),
    method: str = typer.Option("auto", "--method", help=f"auto, exact (score every video) or graph (hnswlib). auto: exact up to {api.EXACT_MAX_ITEMS:,} items unless --ef is given."),
    ef: Optional[int] = typer.Option(None, "--ef", min=1, help="Graph search breadth (default: the index's, 512): higher finds more true neighbours, slower."),
    emotions: Optional[str] = typer.Option(None, "--emotions", help="Use these emotions, e.g. joy,trust (default: read from the query)."),
    no_emotion: bool = typer.Option(False, "--no-emotion", help="Search without the query's emotions."),
    as_written: bool = typer.Option(
        False, "--as-written", help="Read the query's emotions from its words as written, like 'annotate' ('Happy' counts nothing)."
    ),
    only_emotion: Optional[str] = typer.Option(None, "--emotion", help="Keep only videos that show this emotion (their video_emotions score passes --emotion-threshold), e.g. joy."),
    emotion_threshold: Optional[float] = typer.Option(None, "--emotion-threshold", min=0.0, max=1.0, help="Score a video needs for --emotion (default 0.3; scores sum to 1 over 9 classes)."),
    emotion_weight: Optional[float] = typer.Option(None, "--emotion-weight", min=0.0, help="Weight w of the query's emotions matching the videos' (score = similarity + w·match; default 0: off, as measured in bench/RESULTS.md; try 0.1)."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines (the default when stdout is not a terminal)."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu or cuda (one query gains little from a GPU)."),
) -> None:
    """Find the videos that best match a text query, emotional cues included."""
    if query != "-" and not query.strip():
        fail("the query is empty")
    if frames is not None and html_page is None:
        fail("--frames applies to --html")
    options = _options(top, per_video, method, ef, emotions, no_emotion, as_written, only_emotion, emotion_threshold,
                       emotion_weight)
    index = api.open_index(index_dir)
    try:
        encoder = api.query_encoder(index, model_spec, device)
    except api.ModelMismatch as err:
        fail(str(err))
    _answer(query, index, encoder, options, not as_json and _stdout_is_terminal(), html_page, frames)


def _answer(query: str, index: api.Index, encoder: api.QueryEncoder, options: api.SearchOptions, table: bool,
            html_page: Optional[Path], frames: Optional[Path]) -> None:
    """Each query's hits as a table (a terminal) or JSON lines, and the page with --html."""
    if table:
        from emoret_cli.hits_table import print_table  # rich: only for a terminal
    if query == "-":
        hint_reading_stdin(query, "search", "queries, one a line", 'the query: emoret search "a happy dog"')
    shown = []
    for batch in _batches(query):
        for answer in api.search(index, batch, encoder, options):
            if html_page is not None:
                shown += answer.records()
            if table:
                print_table(answer.query, answer.query_emotions, answer.hits)
            else:
                _print_json(answer)
    if html_page is not None:
        api.write_gallery(html_page, shown, frames)
        message(f"search: page → {html_page}")


def _options(top: int, per_video: int, method: str, ef: Optional[int], emotions: Optional[str], no_emotion: bool,
             as_written: bool, only_emotion: Optional[str], threshold: Optional[float],
             emotion_weight: Optional[float]) -> api.SearchOptions:
    """The options as the search takes them; a contradiction or a bad value: one line, exit 2."""
    if method not in api.SEARCH_METHODS:
        fail(f"--method must be one of {', '.join(api.SEARCH_METHODS)}, not {method!r}")
    if emotions is not None and no_emotion:
        fail("--emotions and --no-emotion contradict each other")
    if threshold is not None and only_emotion is None:
        fail("--emotion-threshold applies to --emotion only")
    try:
        mode = "none" if no_emotion else "auto" if emotions is None else api.parse_emotion_names(emotions)
    except ValueError as err:
        fail(f"--emotions: {err}")
    if only_emotion is not None:
        try:
            api.emotion_index(only_emotion)
        except ValueError as err:
            fail(f"--emotion: {err}")
        only_emotion = only_emotion.strip().lower()
    return api.SearchOptions(top, per_video, ef, method, mode, not as_written, emotion_weight, only_emotion, threshold)


def _batches(query: str) -> Iterator[list[str]]:
    if query != "-":
        return iter([[query]])
    from emoret_cli.query_lines import stdin_batches

    return stdin_batches()


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _print_json(answer: api.Answer) -> None:
    out = sys.stdout.buffer
    for record in answer.records():
        out.write(api.dumps(record))
    out.flush()
