"""Answering text queries from an index directory with the model that built it."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from emoret.embedding.encoder import Embeds, QueryEncoder
from emoret.errors import InputError
from emoret.fields import VideoRecord
from emoret.index import store
from emoret.query import rerank

# Bookkeeping of the frame store and of refresh: not what a person searching wants to read.
INTERNAL_KEYS = frozenset(
    {"frame_indices", "sampling", "source_frames", "n_frames", "source_size", "source_mtime_ns", "size", "mtime_ns",
     "moments", "frames_size", "frames_mtime_ns"}
)


def hit_record(query: str, hit: store.Hit, query_emotions: Sequence[str] = ()) -> dict[str, Any]:
    """A hit as one output record: query, the emotions the search used for it, rank, score,
    then the video's public fields."""
    fields = {key: value for key, value in hit.item.items() if key not in INTERNAL_KEYS}
    return {"query": query, "query_emotions": list(query_emotions), "rank": hit.rank, "score": round(hit.score, 6),
            **fields}


def query_emotion_names(query: str, mode: str | Sequence[int], lowercase: bool = True) -> list[str]:
    """The emotions a search uses for ``query`` (read from it, given, or none), by name."""
    from emoret.text.emotions import EMOTIONS

    vectors = query_emotion_vectors([query], mode, lowercase)
    return [] if vectors is None else [name for name, count in zip(EMOTIONS, vectors[0], strict=True) if count > 0]


class ModelMismatch(Exception):
    """The model given for queries is not the one the index was built with."""


def query_encoder(index: store.Index, model_spec: str | None = None, device: str = "cpu") -> QueryEncoder:
    """What answers queries on ``index``, checked against it (:class:`ModelMismatch` if it does not fit).

    The numpy tower over the index's query export when it has one of its model (torch never
    loads); else the torch model: with ``model_spec``, a ``device`` other than cpu/auto, or an
    index built without the export.
    """
    if model_spec is None and device in ("cpu", "auto"):
        from emoret.query.text_numpy import for_index

        encoder = for_index(index.path, index.meta.get("fingerprint"), index.meta)
        if encoder is not None:
            check_model(index, encoder)
            from emoret.query import text_onnx

            return text_onnx.for_index(index.path, encoder, index.meta)  # int8 where it has it and the CPU too
    from emoret.model.factory import ModelOptions, create_model

    model = create_model(model_spec_for(index, model_spec), ModelOptions(device=device))
    check_model(index, model)
    return model


def model_spec_for(index: store.Index, override: str | None) -> str:
    """``override``, else the model recorded in the index."""
    if override:
        return override
    spec = index.meta.get("model")
    if not spec:
        raise InputError(str(index.path), "the index does not record its model; pass --model")
    return str(spec)


def check_model(index: store.Index, model: Embeds) -> None:
    """Refuse a model whose fingerprint or dimension differs from the index's."""
    if int(model.embed_dim) != index.dim:
        raise ModelMismatch(
            f"{index.path}: the index has dimension {index.dim}, the model embeds in {model.embed_dim}"
        )
    expected = index.meta.get("fingerprint")
    if expected and expected != model.fingerprint:
        raise ModelMismatch(
            f"{index.path}: built with another model (fingerprint {expected[:12]}, this model {model.fingerprint[:12]}); "
            "rebuild the index or pass the model it was built with"
        )


def query_emotion_vectors(queries: Sequence[str], mode: str | Sequence[int], lowercase: bool = True) -> list[list[int]] | None:
    """``"auto"``: NRC counts of each query (words lowercased unless ``lowercase`` is False);
    ``"none"``: no emotion; a vector: the same for all."""
    if isinstance(mode, str):
        if mode == "none":
            return None
        if mode == "auto":
            from emoret.text.emotions import query_emotions  # nltk: only when a query needs it

            return [query_emotions(text, lowercase) for text in queries]
        raise ValueError(f"unknown emotion mode {mode!r}")
    return [list(mode) for _ in queries]


def search(index: store.Index, model: QueryEncoder, queries: Sequence[str], top: int = 10, ef: int | None = None,
           emotions: str | Sequence[int] = "auto", lowercase: bool = True, per_video: int = 1,
           emotion_weight: float | None = None, only_emotion: str | None = None,
           threshold: float | None = None, method: str = "auto") -> list[list[store.Hit]]:
    """The ranked hits of each query, best first: ``top`` videos, each with its ``per_video``
    best moments (0: every item on its own, however many of one video). ``model``: an
    EmoretModel, or a text_numpy.NumpyTextEncoder (no torch): see :func:`query_encoder`.

    ``method``: how the index is searched (see :meth:`emoret.index.store.Index.search`).
    Where the index keeps ``video_emotions``: ``only_emotion`` keeps the videos whose
    score for it reaches ``threshold``, and the query's emotions add
    ``emotion_weight · match`` to the similarity (see :mod:`emoret.query.rerank`).
    """
    emotion_vectors = query_emotion_vectors(queries, emotions, lowercase)
    if hasattr(model, "encode_queries"):  # the numpy text encoder (no torch)
        vectors = model.encode_queries(list(queries), emotion_vectors)
        if not np.isfinite(vectors).all():
            from emoret.index.check import IndexDamaged
            from emoret.query.text_numpy import WEIGHTS_FILE

            raise IndexDamaged(index.path, WEIGHTS_FILE, "the query tower gave a non-finite query vector")
    else:
        from emoret.embedding.runner import embed_texts  # the torch path: frames, decoders, torch

        vectors = embed_texts(model, list(queries), emotion_vectors)
    weight = rerank.DEFAULT_EMOTION_WEIGHT if emotion_weight is None else emotion_weight
    if only_emotion is None and (weight == 0 or not rerank.has_video_emotions(index)):
        if per_video < 1 or items_a_video(index) == 1:
            return index.search(vectors, top=top, ef=ef, method=method)
        sizes = Counter(VideoRecord(item).key for item in index.items)
        return [best_per_video(index, vector, top, per_video, ef, sizes, method) for vector in vectors]
    if only_emotion is not None and not rerank.has_video_emotions(index):
        raise InputError(str(index.path), "the index keeps no video emotions: build it with "
                         "'emoret index ... --emotions feel.jsonl' or '--feel'")
    most = items_a_video(index)
    one_item_a_video = most == 1
    # With moments, re-rank enough items that the best videos keep their best moments.
    wanted = top if per_video < 1 or one_item_a_video else min(len(index), top * max(per_video, 1) * most)
    ranked = rerank.search_with_emotions(
        index, vectors, emotion_vectors, wanted, ef, weight, only_emotion,
        rerank.DEFAULT_EMOTION_THRESHOLD if threshold is None else threshold, method,
    )
    if per_video < 1 or one_item_a_video:
        return ranked
    return [group_per_video(hits, top, per_video) for hits in ranked]


@dataclass(frozen=True)
class SearchOptions:
    """How a query is answered (see :func:`search`). ``emotions``: ``"auto"`` (read from the
    query), ``"none"``, or 8 counts in EMOTIONS order; ``lowercase``: read the query's words
    lowercased (False: as written, like annotate)."""

    top: int = 10
    per_video: int = 1
    ef: int | None = None
    method: str = "auto"
    emotions: str | Sequence[int] = "auto"
    lowercase: bool = True
    emotion_weight: float | None = None
    only_emotion: str | None = None
    threshold: float | None = None


@dataclass
class Answer:
    """One query's hits, and the emotions the search used for it."""

    query: str
    query_emotions: list[str]
    hits: list[store.Hit] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """The hits as ``emoret search --json`` prints them, one record a hit."""
        return [hit_record(self.query, hit, self.query_emotions) for hit in self.hits]


def answer(index: store.Index, model: QueryEncoder, queries: Sequence[str],
           options: SearchOptions = SearchOptions()) -> list[Answer]:
    """Each query's :class:`Answer`, in order: what ``emoret search`` prints."""
    o = options
    hits_each = search(index, model, queries, top=o.top, ef=o.ef, emotions=o.emotions, lowercase=o.lowercase,
                       per_video=o.per_video, emotion_weight=o.emotion_weight, only_emotion=o.only_emotion,
                       threshold=o.threshold, method=o.method)
    return [Answer(text, query_emotion_names(text, o.emotions, o.lowercase), list(hits))
            for text, hits in zip(queries, hits_each, strict=True)]


def group_per_video(hits: Sequence[store.Hit], top: int, per_video: int) -> list[store.Hit]:
    """The ``top`` best videos of ranked ``hits``, each with at most ``per_video`` of its hits, re-ranked."""
    return _reranked(list(_by_video(hits, per_video).items())[:top])


def _by_video(hits: Sequence[store.Hit], per_video: int) -> dict[str, list[store.Hit]]:
    """Video key → its first ``per_video`` hits, videos in the order of their best hit."""
    kept: dict[str, list[store.Hit]] = {}
    for hit in hits:
        group = kept.setdefault(VideoRecord(hit.item).key, [])
        if len(group) < per_video:
            group.append(hit)
    return kept


def _reranked(groups: Sequence[tuple[str, list[store.Hit]]]) -> list[store.Hit]:
    """The groups' hits as one list, best score first, ranked from 1."""
    chosen = [hit for _, group in groups for hit in group]
    chosen.sort(key=lambda hit: -hit.score)
    return [store.Hit(rank + 1, hit.score, hit.item) for rank, hit in enumerate(chosen)]


def items_a_video(index: store.Index) -> int:
    """The most items (moments) any one video has in the index: recorded at build, else counted."""
    recorded = index.meta.get("max_items_per_video")
    if isinstance(recorded, int) and recorded >= 1:
        return recorded
    return store.max_items_per_video(index.items)


def best_per_video(index: store.Index, vector: Any, top: int, per_video: int, ef: int | None = None,
                   sizes: Counter | None = None, method: str = "auto") -> list[store.Hit]:
    """The ``top`` best videos for one query vector, each with its ``per_video`` best items, re-ranked.

    Asks the index for more neighbours until the ``top`` best videos each have their
    ``per_video`` items (or all they have), or the index has no more. ``sizes``: items a video.
    """
    sizes = sizes if sizes is not None else Counter(VideoRecord(item).key for item in index.items)
    wanted = min(len(index), top * per_video)
    while True:
        kept = _by_video(index.search(vector, top=wanted, ef=ef, method=method)[0], per_video)
        best = list(kept.items())[:top]
        filled = all(len(group) >= min(per_video, sizes[key]) for key, group in best)
        if (len(kept) >= top and filled) or wanted >= len(index):
            break
        wanted = min(len(index), wanted * 4)
    return _reranked(best)


def index_dir(path: str | os.PathLike | None) -> str:
    return str(path) if path else str(store.default_index_dir())
