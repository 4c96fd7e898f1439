"""A small library for the `emoret serve` tests: real videos, an index whose best hit for
QUERY is known, hostile file names, and a server run on a thread of the test process.

The index is built from an embedding set written here (through ``emoret.build_index``, as
``emoret index`` does): each moment gets a random vector except the target, which gets
the very vector the tiny model gives QUERY, so QUERY ranks it first whatever the weights.
"""

from __future__ import annotations

import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QUERY = "a happy dog plays in the park"
HOSTILE = "<img src=x onerror=\"window.pwned=1\">'&<script>window.pwned=2</script>"
EMOTION_CYCLE = ("joy", "fear", "sadness", "anger", "trust")


@dataclass
class Library:
    root: Path
    moments: list[dict]  # the index records, without video_emotions' variants
    hostile: Path  # a copy of a video under a name full of markup


def make_library(root: Path) -> Library:
    """Two long synthetic videos of three moments each (64x48, 8 fps, H.264), and a hostile copy."""
    from emoret.demo import synthetic
    from emoret.demo.long import make_long_videos

    scenes = synthetic.make_scenes(6, seed=5)
    paths, records = make_long_videos(root, scenes, clips_per_video=3, seed=5, width=64, height=48,
                                                fps=8, workers=1)
    by_name = {path.name: path for path in paths}
    spans = sorted({(r["video"], r["start"], r["end"]) for r in records})
    moments = []
    for number, (name, start, end) in enumerate(spans):
        path = by_name[name].resolve()
        moments.append({"video_id": path.stem, "video": name, "path": str(path), "start": start, "end": end,
                        "moment_id": f"{path.stem}@{start:g}-{end:g}", "video_emotions": _emotions(number)})
    hostile = root / (HOSTILE.replace("/", "_") + ".mp4")
    shutil.copy(paths[0], hostile)
    moments.append({"video_id": HOSTILE, "video": hostile.name, "path": str(hostile.resolve()), "start": 0.0,
                    "end": moments[0]["end"], "caption": HOSTILE, "video_emotions": _emotions(0)})
    return Library(root, moments, hostile)


def _emotions(number: int) -> dict[str, float]:
    """One strong emotion (0.7) a moment, the rest spread thin."""
    strong = EMOTION_CYCLE[number % len(EMOTION_CYCLE)]
    names = ("joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation", "neutral")
    return {name: (0.7 if name == strong else round(0.3 / 8, 4)) for name in names}


def query_vector(env, text: str = QUERY) -> np.ndarray:
    """What the index's query tower gives ``text`` (the torch model, fp32: the same to 1e-6)."""
    from emoret.embedding.runner import embed_texts
    from emoret.text.emotions import query_emotions

    return embed_texts(env.model, [text], [query_emotions(text)], precision="fp32")[0]


def build_index(env, library: Library, target: Path, best: int, tag: str, seed: int = 0,
                extra: tuple[dict, ...] = ()) -> Path:
    """An index of the library (and the ``extra`` records) whose best hit for QUERY is moment
    ``best``; each record tagged ``build``."""
    import emoret
    from emoret.embedding.files import model_meta, save_embeddings

    records = [{**moment, "build": tag} for moment in [*library.moments, *extra]]
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(records), env.model.embed_dim)).astype(np.float32)
    vectors[best] = query_vector(env)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    name = target.parent / f"{target.name}-{tag}-vectors"
    save_embeddings(name, vectors, records, {**model_meta(env.model, env.model_dir), "kind": "videos"})
    emoret.build_index(target, [name])
    return target


@dataclass
class Served:
    url: str
    holder: object
    server: object


@contextmanager
def serving(index: Path, token: str | None = None, host: str = "127.0.0.1", batcher=None) -> Iterator[Served]:
    """The app of ``emoret serve`` on a free loopback port, on a thread, for the block
    (searches answered by ``batcher``, default a new QueryBatcher)."""
    import uvicorn

    from emoret.serve import run
    from emoret.serve.app import create_app
    from emoret.serve.holder import IndexHolder

    holder = IndexHolder(index)
    sock = run.bind(host, 0)
    config = uvicorn.Config(create_app(holder, token, run.accepted_hosts(host, token), batcher), log_level="warning",
                            lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the server did not start"
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", holder, server)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET", data: bytes | None = None) -> Reply:
    """One request, redirects not followed; any status is returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=20) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
