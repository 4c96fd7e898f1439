"""A page to look at search hits: one self-contained HTML file, pictures inline.

Each hit shows a strip of JPEG thumbnails of its frames (from a frame store, else
decoded from the video around the moment), its score, its video emotions where known,
the moment's time, and a link that plays the file from that moment
(``file:///…/video.mp4#t=start,end``, a W3C media fragment browsers honour). Every
text from a hit is escaped; the thumbnails are ``data:`` URIs, so the page needs
nothing beside it. JPEGs are encoded with PyAV's MJPEG encoder: no image library.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from emoret.video.moments import clock, format_time

THUMBNAILS = 4
THUMBNAIL_SIZE = 128


def jpeg(frame: np.ndarray) -> bytes:
    """One RGB uint8 ``[H, W, 3]`` frame as JPEG bytes."""
    import av

    height, width = frame.shape[:2]
    frame = np.ascontiguousarray(frame[: height - height % 2, : width - width % 2])
    context = av.CodecContext.create("mjpeg", "w")
    context.width, context.height = frame.shape[1], frame.shape[0]
    context.pix_fmt = "yuvj420p"
    context.time_base = Fraction(1, 25)
    picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(packet) for packet in [*context.encode(picture), *context.encode(None)])


def data_uri(jpeg_bytes: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes).decode("ascii")


def play_link(hit: dict[str, Any]) -> str | None:
    """``file:///abs/path#t=start,end`` (``#t=start`` without an end), or None without a path."""
    path = hit.get("path")
    if not path:
        return None
    uri = Path(os.path.abspath(str(path))).as_uri()
    start, end = hit.get("start"), hit.get("end")
    if isinstance(start, (int, float)):
        uri += f"#t={format_time(start)}"
        if isinstance(end, (int, float)):
            uri += f",{format_time(end)}"
    return uri


@dataclass
class FrameSource:
    """Where thumbnails come from: a frame store's manifest, else the video files."""

    frames_dir: str | os.PathLike | None = None
    count: int = THUMBNAILS
    size: int = THUMBNAIL_SIZE

    def __post_init__(self) -> None:
        self._manifest: dict[str, dict[str, Any]] | None = None

    def frames(self, hit: dict[str, Any]) -> np.ndarray:
        """Up to ``count`` frames of the hit's moment (or video); raises VideoError/InputError."""
        if self.frames_dir is not None and str(hit.get("video_id")) in self.manifest():
            frames = self._stored(hit)
        else:
            frames = self._decoded(hit)
        from emoret.video.sampling import sample_indices

        if len(frames) > self.count:
            frames = frames[sample_indices(len(frames), self.count)]
        return frames

    def manifest(self) -> dict[str, dict[str, Any]]:
        if self._manifest is None:
            from emoret.video.frames import read_manifest

            assert self.frames_dir is not None
            self._manifest = {str(r.get("video_id")): r for r in read_manifest(self.frames_dir) if "error" not in r}
        return self._manifest

    def _stored(self, hit: dict[str, Any]) -> np.ndarray:
        from emoret.video.frames import load_frames

        assert self.frames_dir is not None
        record = self.manifest()[str(hit.get("video_id"))]
        rows = None
        if record.get("moments") and isinstance(hit.get("start"), (int, float)):
            moment = min(record["moments"], key=lambda m: abs(m["start"] - hit["start"]) + abs(m["end"] - hit.get("end", m["end"])))
            rows = (int(moment["rows"][0]), int(moment["rows"][1]))
        return load_frames(self.frames_dir, str(hit.get("video_id")), rows, record=record)

    def _decoded(self, hit: dict[str, Any]) -> np.ndarray:
        from emoret.video.container import VideoError
        from emoret.video.decode import extract
        from emoret.video.sampling import Sampling

        path = hit.get("path") or hit.get("source")
        if not path:
            raise VideoError("no path to decode thumbnails from")
        start, end = hit.get("start"), hit.get("end")
        span = (float(start), float(end)) if isinstance(start, (int, float)) and isinstance(end, (int, float)) else None
        return extract(path, Sampling(num_frames=self.count, size=self.size), span=span).frames


def thumbnails(hit: dict[str, Any], source: FrameSource) -> tuple[list[str], str | None]:
    """The hit's thumbnails as data URIs, and why there are none (None when there are)."""
    from emoret.errors import InputError
    from emoret.video.container import VideoError
    from emoret.video.frames import FramesMismatch

    try:
        return [data_uri(jpeg(frame)) for frame in source.frames(hit)], None
    except FramesMismatch:
        raise  # a stale store: refused, not shown as a missing thumbnail
    except (VideoError, InputError) as err:
        return [], str(err)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; background: #fafafa; color: #222; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.hit { display: flex; gap: 1rem; align-items: center; background: #fff; border: 1px solid #ddd;
       border-radius: 6px; padding: .6rem; margin: .5rem 0; }
.rank { font-size: 1.4rem; width: 2.2rem; text-align: right; color: #888; }
.strip { display: flex; gap: 2px; } .strip img { height: 96px; border-radius: 3px; }
.meta { font-size: .9rem; line-height: 1.5; } .score { font-weight: bold; }
.emotions span { display: inline-block; margin-right: .4rem; padding: 0 .3rem; background: #eef; border-radius: 3px; }
.missing { color: #a33; font-size: .85rem; }
"""


def _hit_html(hit: dict[str, Any], source: FrameSource) -> str:
    esc = html.escape
    images, missing = thumbnails(hit, source)
    strip = "".join(f'<img src="{uri}" alt="frame {i + 1}">' for i, uri in enumerate(images))
    if missing:
        strip = f'<span class="missing">no thumbnails: {esc(missing)}</span>'
    name = str(hit.get("video") or hit.get("video_id") or hit.get("path") or "")
    link = play_link(hit)
    title = f'<a href="{esc(link)}">{esc(name)}</a>' if link else esc(name)
    lines = [f'<div class="title">{title}</div>']
    score = hit.get("score")
    lines.append(f'<div class="score">score {esc(f"{score:.3f}" if isinstance(score, (int, float)) else str(score))}</div>')
    start, end = hit.get("start"), hit.get("end")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        lines.append(f'<div class="time">{esc(clock(start))} – {esc(clock(end))}</div>')
    emotions = hit.get("video_emotions")
    if isinstance(emotions, dict) and emotions:
        top = sorted(((k, v) for k, v in emotions.items() if isinstance(v, (int, float))), key=lambda kv: -kv[1])[:3]
        chips = "".join(f"<span>{esc(str(k))} {v:.2f}</span>" for k, v in top)
        lines.append(f'<div class="emotions">{chips}</div>')
    if hit.get("path"):
        lines.append(f'<div class="path">{esc(str(hit["path"]))}</div>')
    rank = esc(str(hit.get("rank", "")))
    return (f'<div class="hit"><div class="rank">{rank}</div><div class="strip">{strip}</div>'
            f'<div class="meta">{"".join(lines)}</div></div>')


def render(hits: Iterable[dict[str, Any]], source: FrameSource | None = None, title: str = "emoret search") -> str:
    """The page for these hits, grouped by query in the order they come."""
    source = source or FrameSource()
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    query: Any = object()
    count = 0
    for hit in hits:
        if hit.get("query") != query:
            query = hit.get("query")
            parts.append(f"<h2>{esc(str(query))}</h2>")
        parts.append(_hit_html(hit, source))
        count += 1
    if not count:
        parts.append("<p>No hits.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def read_hits(source: str | os.PathLike | None = "-") -> list[dict[str, Any]]:
    """Search hits from JSON lines (``emoret search --json``; ``-``: stdin), each checked to be one."""
    from emoret.errors import InputError
    from emoret.records import iter_numbered, source_name

    hits = []
    for line, record in iter_numbered(source):
        if "score" not in record or not any(record.get(k) for k in ("path", "video_id", "video")):
            raise InputError(source_name(source), "not a search hit (needs 'score' and 'path', 'video' or 'video_id')",
                             line)
        hits.append(record)
    return hits


def write_page(path: str | os.PathLike, hits: Sequence[dict[str, Any]], source: FrameSource | None = None,
               title: str = "emoret search") -> Path:
    """Write the page atomically."""
    from emoret.atomic import write_bytes_atomic

    path = Path(path)
    write_bytes_atomic(path, render(hits, source, title).encode("utf-8"))
    return path
