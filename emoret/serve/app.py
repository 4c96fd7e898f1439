"""The ASGI app of ``emoret serve``: the page, the JSON API, the videos and their thumbnails.

``GET /api/search?q=…&top=…&per_video=…&emotion=…&emotion_weight=…`` answers with exactly
the JSON lines ``emoret search --json`` prints for the same options (the same library call,
:func:`emoret.search`); ``/api/health`` says what is served. ``/media/video?path=P`` sends
a video the index holds (HTTP ranges, so a browser can seek) and ``/media/thumbnail?path=P&at=S``
a JPEG of its frame at S seconds; any other file is 404 (see library.py).
"""

from __future__ import annotations

import asyncio
import functools
import math
import mimetypes
import os
from collections.abc import Collection
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

import emoret
from emoret.errors import InputError
from emoret.perception import VIDEO_EMOTIONS  # the keys of video_emotions, what --emotion accepts
from emoret.query.rerank import DEFAULT_EMOTION_THRESHOLD
from emoret.records import dumps
from emoret.serve.batcher import QueryBatcher
from emoret.serve.guard import Guard
from emoret.serve.holder import IndexHolder
from emoret.serve.ranges import Unsatisfiable, parse_range, read_span
from emoret.serve.thumbnails import Thumbnails

MAX_TOP = 100
MAX_PER_VIDEO = 20
MAX_QUERY_CHARS = 1000
MAX_EMOTION_WEIGHT = 10.0
STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8",
          "favicon.svg": "image/svg+xml"}


class BadRequest(Exception):
    """A request parameter out of bounds: 400 with this message."""


class Handlers:
    """The routes' handlers over ``holder``'s current index."""

    def __init__(self, holder: IndexHolder, batcher: QueryBatcher) -> None:
        self.holder = holder
        self.batcher = batcher
        self.thumbnails = Thumbnails()

    async def search(self, request: Request) -> Response:
        try:
            query, options = search_options(request.query_params)
            answer = await asyncio.wrap_future(self.batcher.submit(self.holder.current(), query, options))
        except (BadRequest, InputError, ValueError) as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        body = b"".join(dumps(record) for record in answer.records())
        return Response(body, media_type="application/x-ndjson", headers={
            "cache-control": "no-store", "emoret-query-emotions": ",".join(answer.query_emotions)})

    def health(self, request: Request) -> Response:
        record = {**health_record(self.holder), "searches": {"answered": self.batcher.answered,
                                                             "batches": self.batcher.batches}}
        return JSONResponse(record, headers={"cache-control": "no-store"})

    async def video(self, request: Request) -> Response:
        file = self.holder.current().library.open(request.query_params.get("path", ""))
        if file is None:
            return _not_found()
        return ranged(file, request.headers.get("range"), request.query_params["path"])

    async def thumbnail(self, request: Request) -> Response:
        at = _number(request.query_params.get("at", "0"), "at", 0.0, 1e7)
        file = self.holder.current().library.open(request.query_params.get("path", ""))
        if file is None:
            return _not_found()
        picture = await run_in_threadpool(self.thumbnails.get, file, at)
        if picture is None:
            return _not_found()
        return Response(picture, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})

    async def page(self, request: Request) -> Response:
        return Response(_static("index.html"), media_type="text/html; charset=utf-8",
                        headers={"cache-control": "no-cache"})

    async def favicon(self, request: Request) -> Response:
        return Response(_static("favicon.svg"), media_type=STATIC["favicon.svg"])

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return _not_found()
        return Response(_static(name), media_type=STATIC[name], headers={"cache-control": "no-cache"})


def create_app(holder: IndexHolder, token: str | None = None, hosts: Collection[str] | None = None,
               batcher: QueryBatcher | None = None) -> Guard:
    """The app serving ``holder``'s index; ``token`` and ``hosts``: see :class:`emoret.serve.guard.Guard`;
    searches answered by ``batcher`` (default: a new one)."""
    handle = Handlers(holder, batcher or QueryBatcher())
    routes = [
        Route("/", handle.page), Route("/static/{name}", handle.static), Route("/favicon.ico", handle.favicon),
        Route("/api/search", handle.search), Route("/api/health", handle.health), Route("/media/video", handle.video),
        Route("/media/thumbnail", handle.thumbnail),
    ]
    app = Starlette(routes=routes)
    app.add_exception_handler(BadRequest, lambda request, err: JSONResponse({"error": str(err)}, status_code=400))
    return Guard(app, token=token, hosts=hosts)


def search_options(params: Any) -> tuple[str, emoret.SearchOptions]:
    """The query and the options of ``emoret search --json`` that the parameters name, bounded."""
    query = str(params.get("q", "")).strip()
    if not query:
        raise BadRequest("q: the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise BadRequest(f"q: over {MAX_QUERY_CHARS} characters")
    emotion = params.get("emotion") or None
    if emotion is not None:
        emotion = emotion.strip().lower()
        if emotion not in VIDEO_EMOTIONS:
            raise BadRequest(f"emotion: unknown emotion {emotion!r}: choose from {', '.join(VIDEO_EMOTIONS)}")
    weight = params.get("emotion_weight")
    return query, emoret.SearchOptions(
        top=int(_number(params.get("top", "10"), "top", 1, MAX_TOP, whole=True)),
        per_video=int(_number(params.get("per_video", "1"), "per_video", 0, MAX_PER_VIDEO, whole=True)),
        emotion_weight=None if weight in (None, "") else _number(weight, "emotion_weight", 0.0, MAX_EMOTION_WEIGHT),
        only_emotion=emotion,
    )


def _number(text: str, name: str, low: float, high: float, whole: bool = False) -> float:
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise BadRequest(f"{name}: not {'a whole number' if whole else 'a number'}: {text[:40]!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise BadRequest(f"{name}: must be from {low:g} to {high:g}")
    return value


def health_record(holder: IndexHolder) -> dict[str, Any]:
    loaded = holder.current()
    index = loaded.index
    return {
        "status": "ok", "version": emoret.__version__, "index": str(holder.path), "items": len(index),
        "build_id": loaded.build_id, "created": index.meta.get("created"), "model": index.meta.get("model"),
        "video_emotions": loaded.has_video_emotions, "emotions": list(VIDEO_EMOTIONS),
        "emotion_threshold": DEFAULT_EMOTION_THRESHOLD,
        "reloading": holder.reloading, "reloads": holder.reloads, "limits": {"top": MAX_TOP, "per_video": MAX_PER_VIDEO},
        "query_vectors": {"kept_hits": getattr(loaded.encoder, "hits", None),
                          "encoded": getattr(loaded.encoder, "misses", None)},
    }


def ranged(file: Any, range_header: str | None, name: str) -> Response:
    """The file, or the one byte range asked for (206), streamed."""
    size = os.fstat(file.fileno()).st_size
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {"accept-ranges": "bytes", "cache-control": "private, no-cache"}
    try:
        span = parse_range(range_header, size)
    except Unsatisfiable:
        file.close()
        return Response(status_code=416, headers={**headers, "content-range": f"bytes */{size}"})
    start, end = span or (0, size)
    headers["content-length"] = str(end - start)
    if span is None:
        return StreamingResponse(read_span(file, 0, size), media_type=media_type, headers=headers)
    headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(read_span(file, start, end), status_code=206, media_type=media_type, headers=headers)


@functools.cache
def _static(name: str) -> bytes:
    return resources.files("emoret.serve").joinpath("static").joinpath(name).read_bytes()


def _not_found() -> Response:
    return PlainTextResponse("emoret serve: not found\n", status_code=404)
