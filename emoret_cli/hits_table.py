"""The table ``emoret search`` prints on a terminal: one row a hit, every text from the data escaped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from emoret import api
from emoret.errors import printable

if TYPE_CHECKING:
    from rich.text import Text


def print_table(query: str, query_emotions: list[str], hits: Sequence[api.Hit]) -> None:
    from rich.console import Console
    from rich.table import Table

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
        link = api.play_link(item)
        # OSC 8 links: the terminal opens the file (at the moment, where the player honours #t=).
        row: list[Text | str] = [str(hit.rank), f"{hit.score:.3f}", _text(api.VideoRecord(item).name, link)]
        if moments:
            start, end = item.get("start"), item.get("end")
            row.append(f"{api.clock(start)}–{api.clock(end)}" if isinstance(start, (int, float)) and isinstance(end, (int, float)) else "")
        row += [
            _text(api.VideoRecord(item).file, link),
            f"{float(duration):.1f}s" if isinstance(duration, (int, float)) else "",
        ]
        if feels:
            row.append(_feels(item.get("video_emotions")))
        table.add_row(*row)
    Console().print(table)


def _text(value: str, link: str | None = None) -> Text:
    from rich.style import Style
    from rich.text import Text

    # A Text, not markup: a path with [brackets] must print as it is.
    return Text(printable(value), style=Style(link=link) if link else "")


def _feels(video_emotions: object) -> Text | str:
    """The video's strongest emotion and its score, e.g. 'joy 0.82'."""
    if not isinstance(video_emotions, dict) or not video_emotions:
        return ""
    name, score = max(video_emotions.items(), key=lambda kv: float(kv[1] or 0))
    return _text(f"{name} {float(score or 0):.2f}")
