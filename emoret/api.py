"""The public Python API: what the commands do, for a script, a Ray worker or a server.

Import it as ``import emoret`` (these names are re-exported there, loaded on first use, so
``import emoret`` stays cheap and never imports torch). Each function runs the library code
the matching command runs (the command parses options, calls it and prints); ``search``
is the very call ``emoret search`` makes.

    model = emoret.create_model("openai/clip-vit-base-patch32", emoret.ModelOptions(device="cpu"))
    emoret.embed_videos(model, "openai/clip-vit-base-patch32", ["my-videos/"], out="videos")
    emoret.build_index("my-index", ["videos"])
    index = emoret.open_index("my-index")
    for answer in emoret.search(index, ["a happy dog"]):
        print(answer.records())
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoret.embedding.encoder import Encoder, QueryEncoder
from emoret.fields import VideoRecord
from emoret.index.build import Cutting, EmotionTagger, IndexParams, Say, quiet
from emoret.model.factory import ModelOptions, create_model
from emoret.query.search import Answer, SearchOptions

if TYPE_CHECKING:
    from emoret.embedding.sets import WrittenSet
    from emoret.evaluation import metrics
    from emoret.index.refresh import RefreshResult
    from emoret.index.store import Index

PathLike = str | os.PathLike[str]

__all__ = [
    "Answer", "Cutting", "Encoder", "IndexParams", "ModelOptions", "QueryEncoder", "SearchOptions",
    "annotate", "build_index", "create_model", "embed_captions", "embed_videos", "evaluate", "feel",
    "open_index", "query_encoder", "refresh_index", "search",
]


def annotate(captions: PathLike | None = "-", by_video: bool = False, lowercase: bool = False,
             workers: int = 1) -> Iterator[dict[str, Any]]:
    """The caption records of a JSON array or JSON-lines file (``-``: stdin) with ``sentiment``
    (VADER) and the NRC emotion counts, in input order (``emoret annotate``). ``by_video``:
    one record a video, its captions joined; ``lowercase``: NRC words looked up lowercased."""
    from emoret.text.annotate import annotate_path

    return annotate_path(None if captions is None else str(captions), workers=workers, by_video=by_video,
                         lowercase=lowercase)


def embed_captions(model: Encoder, model_spec: str, captions: Sequence[dict[str, Any]], out: PathLike,
                   use_emotion: bool = True, batch_size: int = 64, precision: str | None = None) -> WrittenSet:
    """Caption records embedded by ``model`` (loaded from ``model_spec``) into the set ``out``
    (OUT.npy + OUT.jsonl + OUT.meta.json), as ``emoret embed --texts``."""
    from emoret.embedding.files import model_meta
    from emoret.embedding.precision import resolve_precision
    from emoret.embedding.sets import caption_set

    chosen = resolve_precision(precision or "auto", model.device.type)
    meta = {**model_meta(model, model_spec), "precision": chosen}
    return caption_set(model, captions, out, meta, use_emotion, batch_size, precision=chosen)


def embed_videos(model: Encoder, model_spec: str, videos: Sequence[PathLike] = (), out: PathLike = "videos",
                 frames: PathLike | None = None, cutting: Cutting | None = None, rule: str = "linspace",
                 batch_size: int = 8, precision: str | None = None, say: Say = quiet) -> WrittenSet:
    """Video files and folders (or a frame store, ``frames``) embedded by ``model`` into the
    set ``out``, as ``emoret embed``; whole videos, or moments by ``cutting``. A video that
    cannot be read is said and left out (the result's ``failures``)."""
    from emoret.embedding.files import model_meta
    from emoret.embedding.precision import resolve_precision
    from emoret.embedding.sets import video_items, video_set

    chosen = resolve_precision(precision or "auto", model.device.type)
    meta = {**model_meta(model, model_spec), "precision": chosen, "sampling": rule}
    items = video_items(model, [Path(video) for video in videos], frames, rule, cutting, say=say)
    return video_set(model, items, out, meta, batch_size, rule, chosen, 0 if frames is not None else None,
                     on_failure=lambda failure: say(f"emoret: {VideoRecord(failure.record).label}: {failure.reason}"))


def build_index(target: PathLike, embeddings: Sequence[PathLike], model_spec: str | None = None,
                params: IndexParams | None = None, emotions: PathLike | None = None, wait: bool = True,
                say: Say = quiet) -> dict[str, Any]:
    """Index embedding sets (NAME or NAME.npy) into the directory ``target``, as ``emoret
    index NAME...``; ``emotions``: ``emoret feel`` output whose ``video_emotions`` the items
    keep. Published atomically under the index's writer lock; returns the meta written."""
    from emoret.index import store
    from emoret.index.build import index_embeddings, locked

    resolved = store.resolve_target(target)
    store.refuse_foreign_directory(resolved)
    with locked(resolved, wait, say):
        return index_embeddings(list(embeddings), resolved, model_spec, "auto", params, _tagger(emotions, say), say)


def refresh_index(target: PathLike, videos: Sequence[PathLike], model: Encoder, model_spec: str,
                  params: IndexParams | None = None, cutting: Cutting | None = None, rule: str = "linspace",
                  emotions: PathLike | None = None, batch_size: int = 8, wait: bool = True,
                  say: Say = quiet) -> RefreshResult:
    """Keep the index ``target`` in step with folders of videos, as ``emoret index --model``:
    embeds only new or changed videos, drops deleted ones, rewrites nothing when nothing changed."""
    from emoret.index import store
    from emoret.index.build import index_videos, locked

    resolved = store.resolve_target(target)
    store.refuse_foreign_directory(resolved)
    with locked(resolved, wait, say):
        return index_videos(list(videos), resolved, model, model_spec, params, batch_size, rule, cutting,
                            _tagger(emotions, say), say)


def _tagger(emotions: PathLike | None, say: Say) -> EmotionTagger | None:
    if emotions is None:
        return None
    from emoret.perception.join import read_emotions

    return EmotionTagger(read_emotions(emotions), say=say)


def open_index(path: PathLike | None = None) -> Index:
    """The index directory ``path`` (default ``$EMORET_INDEX``, then ``./emoret-index``), opened."""
    from emoret.index import store
    from emoret.query.search import index_dir

    return store.open_index(index_dir(path))


def query_encoder(index: Index, model_spec: str | None = None, device: str = "cpu") -> QueryEncoder:
    """What answers queries on ``index``: its numpy query tower (no torch) when it carries one,
    else the model it records (or ``model_spec``); ModelMismatch if that is not its model."""
    from emoret.query.search import query_encoder as encoder_for

    return encoder_for(index, model_spec, device)


def search(index: Index, queries: Sequence[str], encoder: QueryEncoder | None = None,
           options: SearchOptions | None = None) -> list[Answer]:
    """Each query's answer: ``answer.hits`` ranked, ``answer.records()`` the records ``emoret
    search --json`` prints. ``encoder`` defaults to :func:`query_encoder` of the index."""
    from emoret.query.search import answer

    return answer(index, encoder or query_encoder(index), list(queries), options or SearchOptions())


def feel(videos: Sequence[PathLike] = (), frames: PathLike | None = None, model: Encoder | None = None,
         faces: bool = True, face_model: PathLike | None = None, face_share: float = 0.5,
         batch_size: int = 8, say: Say = quiet) -> list[dict[str, Any]]:
    """Each readable video's record with ``video_emotions`` (8 NRC emotions + neutral) read from
    its scene (with ``model``) and its faces (``faces``; ``face_model``: a local ONNX file, else
    the default, fetched once), as ``emoret feel``."""
    from emoret.perception.faces import face_reader
    from emoret.perception.run import feel as read
    from emoret.perception.run import feel_items

    reader = face_reader(face_model) if faces else None
    items = feel_items(model, [Path(video) for video in videos], frames, say)
    return read(items, model, reader, face_share, batch_size,
                on_failure=lambda failure: say(f"emoret: {VideoRecord(failure.record).label}: {failure.reason}"))


def evaluate(texts: PathLike, videos: PathLike, video_emotions: PathLike | None = None,
             emotion_weight: float | None = None, say: Say = quiet) -> dict[str, metrics.Report]:
    """Recall@1/5/10, median and mean rank of caption and video embedding sets, as ``emoret
    eval --texts --videos``: ``all``, and ``emotion`` where the captions carry it."""
    from emoret.evaluation.evaluate import evaluate as compute
    from emoret.evaluation.evaluate import load_pair

    return compute(load_pair(texts, videos), video_emotions, emotion_weight, say)
