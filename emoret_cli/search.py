"""``emoret search``: ranked videos for a text query."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from emoret.fields import VideoRecord
from emoret.index.store import EXACT_MAX_ITEMS, SEARCH_METHODS
from emoret.records import dumps
from emoret.text.emotions import parse_emotion_names
from emoret_cli.common import fail, hint_reading_stdin

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
    method: str = typer.Option("auto", "--method", help=f"auto, exact (score every video) or graph (hnswlib). auto: exact up to {EXACT_MAX_ITEMS:,} items unless --ef is given."),
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
    if method not in SEARCH_METHODS:
        fail(f"--method must be one of {', '.join(SEARCH_METHODS)}, not {method!r}")
    if emotions is not None and no_emotion:
        fail("--emotions and --no-emotion contradict each other")
    if query != "-" and not query.strip():
        fail("the query is empty")
    mode = _emotion_mode(emotions, no_emotion)
    if frames is not None and html_page is None:
        fail("--frames applies to --html")
    if emotion_threshold is not None and only_emotion is None:
        fail("--emotion-threshold applies to --emotion only")
    if only_emotion is not None:
        from emoret.query.rerank import emotion_index

        try:
            emotion_index(only_emotion)
        except ValueError as err:
            fail(f"--emotion: {err}")
        only_emotion = only_emotion.strip().lower()

    from emoret.index import store
    from emoret.query import search as searching

    index = store.open_index(searching.index_dir(index_dir))
    model = _query_encoder(index, model_spec, device)

    table = not as_json and _stdout_is_terminal()
    if query == "-":
        hint_reading_stdin(query, "search", "queries, one a line", 'the query: emoret search "a happy dog"')
    batches = _stdin_batches() if query == "-" else iter([[query]])
    options = searching.SearchOptions(top, per_video, ef, method, mode, not as_written, emotion_weight, only_emotion,
                                      emotion_threshold)
    shown = []
    for batch in batches:
        for answer in searching.answer(index, model, batch, options):
            if html_page is not None:
                shown += answer.records()
            if table:
                _print_table(answer.query, answer.query_emotions, answer.hits)
            else:
                _print_json(answer)
    if html_page is not None:
        from emoret.report.gallery import FrameSource, write_page
        from emoret_cli.common import message

        write_page(html_page, shown, FrameSource(frames))
        message(f"search: page → {html_page}")


def _query_encoder(index, model_spec: Optional[str], device: str):
    from emoret.query import search as searching

    try:
        return searching.query_encoder(index, model_spec, device)
    except searching.ModelMismatch as err:
        fail(str(err))


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


# Lines that arrive together are embedded as one batch (piped queries: throughput);
# a line typed alone is answered at once (interactive use).
MAX_BATCH = 64


def _stdin_batches():
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (tests)
        yield from _batches(line.strip() for line in sys.stdin)
        return
    yield from _batches_from_fd(fd)


def _batches(lines):
    batch: list[str] = []
    for text in lines:
        if text:
            batch.append(text)
        if len(batch) == MAX_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _batches_from_fd(fd: int):
    import os

    pending = b""
    while True:
        chunk = os.read(fd, 1 << 16)  # blocks only until something arrives
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        texts = [line.decode("utf-8", "replace").strip() for line in complete]
        yield from _batches(texts)
    if pending.strip():
        yield [pending.decode("utf-8", "replace").strip()]


def _print_json(answer) -> None:
    out = sys.stdout.buffer
    for record in answer.records():
        out.write(dumps(record))
    out.flush()


def _print_table(query: str, query_emotions: list[str], hits) -> None:
    from rich.console import Console
    from rich.table import Table

    from emoret.report.gallery import play_link
    from emoret.video.moments import clock

    moments = any(isinstance(hit.item.get("start"), (int, float)) for hit in hits)
    feels = any(hit.item.get("video_emotions") for hit in hits)  # an index without video emotions: no column
    read = ", ".join(query_emotions) or "none"
    # Every text from the data is a Text, never markup ("[/]" is a query, not a closing
    # tag), its control characters escaped.
    table = Table(title=_text(query), title_justify="left", caption=_text(f"query emotions: {read}"),
                  caption_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("score", justify="right")
    table.add_column("video")
    if moments:
        table.add_column("moment", justify="right")
    table.add_column("path", overflow="fold")
    table.add_column("duration", justify="right")
    if feels:
        table.add_column("feels")
    for hit in hits:
        item = hit.item
        duration = item.get("duration")
        link = play_link(item)
        # OSC 8 links: the terminal opens the file (at the moment, where the player honours #t=).
        row = [str(hit.rank), f"{hit.score:.3f}", _text(VideoRecord(item).name, link)]
        if moments:
            start, end = item.get("start"), item.get("end")
            row.append(f"{clock(start)}–{clock(end)}" if isinstance(start, (int, float)) and isinstance(end, (int, float)) else "")
        row += [
            _text(VideoRecord(item).file, link),
            f"{float(duration):.1f}s" if isinstance(duration, (int, float)) else "",
        ]
        if feels:
            row.append(_feels(item.get("video_emotions")))
        table.add_row(*row)
    Console().print(table)


def _text(value: str, link: str | None = None):
    from rich.style import Style
    from rich.text import Text

    from emoret.errors import printable

    # A Text, not markup: a path with [brackets] must print as it is.
    return Text(printable(value), style=Style(link=link) if link else "")


def _feels(video_emotions):
    """The video's strongest emotion and its score, e.g. 'joy 0.82'."""
    if not isinstance(video_emotions, dict) or not video_emotions:
        return ""
    name, score = max(video_emotions.items(), key=lambda kv: float(kv[1] or 0))
    return _text(f"{name} {float(score or 0):.2f}")
