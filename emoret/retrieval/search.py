"""Answering text queries from an index directory with the model that built it."""

from __future__ import annotations

import os
from typing import Any, Sequence

from emoret.errors import InputError
from emoret.retrieval import index as store
from emoret.retrieval.embed import embed_texts
from emoret.retrieval.encoder import Encoder
from emoret.text.emotions import query_emotions

# Bookkeeping of the frame store and of refresh: not what a person searching wants to read.
INTERNAL_KEYS = frozenset(
    {"frame_indices", "sampling", "source_frames", "n_frames", "source_size", "source_mtime_ns", "size", "mtime_ns"}
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


def model_spec_for(index: store.Index, override: str | None) -> str:
    """``override``, else the model recorded in the index."""
    if override:
        return override
    spec = index.meta.get("model")
    if not spec:
        raise InputError(str(index.path), "the index does not record its model; pass --model")
    return str(spec)


def check_model(index: store.Index, model: Encoder) -> None:
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
            return [query_emotions(text, lowercase) for text in queries]
        raise ValueError(f"unknown emotion mode {mode!r}")
    return [list(mode) for _ in queries]


def search(index: store.Index, model: Encoder, queries: Sequence[str], top: int = 10, ef: int | None = None,
           emotions: str | Sequence[int] = "auto", lowercase: bool = True) -> list[list[store.Hit]]:
    """The ranked hits of each query, best first."""
    vectors = embed_texts(model, list(queries), query_emotion_vectors(queries, emotions, lowercase))
    return index.search(vectors, top=top, ef=ef)


def index_dir(path: str | os.PathLike | None) -> str:
    return str(path) if path else str(store.default_index_dir())
