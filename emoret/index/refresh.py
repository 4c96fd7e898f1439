"""Keep an index in step with folders of videos: embed what is new or changed, drop what is gone.

Made for cron: a run where nothing changed rewrites nothing. A video counts as
unchanged when its path, size and modification time match the indexed record
and the index was made by the same model (same fingerprint) with the same frame
sampling rule, cut into moments the same way. A video in moments is kept or
re-embedded whole: all its moments at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from emoret.embedding import files as set_files
from emoret.embedding import runner as embed
from emoret.embedding import sources
from emoret.embedding.encoder import Encoder
from emoret.errors import InputError
from emoret.index import check as index_check
from emoret.index import store
from emoret.video.sampling import DEFAULT_RULE


@dataclass
class RefreshResult:
    kept: int = 0
    embedded: int = 0
    removed: int = 0  # indexed videos whose file is gone
    failed: list[sources.VideoFailure] = field(default_factory=list)
    written: bool = False


Row = tuple[np.ndarray, dict[str, Any]]  # a vector and its record


def _unchanged_key(record: dict[str, Any]) -> tuple[Any, Any, Any]:
    return record.get("path"), record.get("size"), record.get("mtime_ns")


def refresh(
    target: str | os.PathLike,
    model: Encoder,
    model_spec: str,
    paths: Iterable[str | os.PathLike],
    params: dict[str, int],
    batch_size: int = 8,
    on_start: Callable[[int], None] | None = None,
    on_item: Callable[[], None] | None = None,
    on_failure: Callable[[sources.VideoFailure], None] | None = None,
    rule: str = DEFAULT_RULE,
    segment: float | None = None,
    overlap: float = 0.0,
    scenes: bool = False,
    before_write: Callable[[np.ndarray, list[dict[str, Any]]], None] | None = None,
    extras: Callable[[Path], None] | None = None,
    decode_workers: int | None = None,
) -> RefreshResult:
    """Bring the index at ``target`` up to date with the videos under ``paths``.

    The caller holds :func:`emoret.index.store.writer_lock`. ``params``: m, ef_construction, ef.
    ``rule``: how frames are chosen (see :func:`emoret.video.sampling.sample_indices`).
    ``segment``/``overlap``/``scenes``: index moments instead of whole videos (see
    :class:`emoret.video.sampling.Sampling`). Counts in the result are of files.
    ``before_write(vectors, records)`` may add fields to the records (video emotions) first.
    """
    target = store.resolve_target(target)
    paths = list(paths)
    items = sources.items_from_files(paths, int(model.num_frames), int(model.image_size), rule, segment, overlap, scenes)
    if not items:
        raise InputError(", ".join(str(p) for p in paths), "no video files found")
    moments = moments_meta(segment, overlap, scenes)
    previous = _previous(target, model.fingerprint, rule, moments)
    old_items: Sequence[dict[str, Any]] = previous.items if previous is not None else []
    reused, fresh = _reuse(items, previous)
    present = {item.record["path"] for item in items}
    result = RefreshResult(kept=len(reused), removed=sum(1 for item in old_items if item.get("path") not in present))
    if on_start:
        on_start(len(fresh))

    def failed(failure: sources.VideoFailure) -> None:
        result.failed.append(failure)
        if on_failure:
            on_failure(failure)

    new_vectors, new_records, owners = embed.embed_items(
        model, [item for _, item in fresh], batch_size, on_item=on_item, on_failure=failed, rule=rule,
        decode_workers=decode_workers,
    )
    result.embedded = len(set(owners))
    embedded: dict[int, list[Row]] = {}
    for row, owner in enumerate(owners):
        embedded.setdefault(fresh[owner][0], []).append((new_vectors[row], new_records[row]))
    rows = [row for position in range(len(items)) for row in reused.get(position) or embedded.get(position) or []]
    records = [record for _, record in rows]
    if before_write is not None and records:
        before_write(np.stack([vector for vector, _ in rows]), records)
    same_params = previous is not None and all(previous.meta.get(k) == v for k, v in params.items())
    if not records or (same_params and records == old_items):
        return result
    meta = {**set_files.model_meta(model, model_spec), "source": "videos", "sampling": rule}
    if moments:
        meta["moments"] = moments
    store.write_index(target, np.stack([vector for vector, _ in rows]), records, meta, extras=extras, **params)
    result.written = True
    return result


def _reuse(items: Sequence[sources.VideoItem], previous: store.Index | None
           ) -> tuple[dict[int, list[Row]], list[tuple[int, sources.VideoItem]]]:
    """(position of an unchanged video → its rows in ``previous``, the (position, item) of the others)."""
    old_rows: dict[tuple[Any, Any, Any], list[int]] = {}
    if previous is None:
        return {}, list(enumerate(items))
    for row, record in enumerate(previous.items):
        old_rows.setdefault(_unchanged_key(record), []).append(row)
    old_vectors = previous.vectors()
    reused: dict[int, list[Row]] = {}
    fresh: list[tuple[int, sources.VideoItem]] = []
    for position, item in enumerate(items):
        rows = old_rows.get(_unchanged_key(item.record))
        if rows:
            reused[position] = [(np.asarray(old_vectors[row]), previous.items[row]) for row in rows]
        else:
            fresh.append((position, item))
    return reused, fresh


def moments_meta(segment: float | None, overlap: float, scenes: bool) -> dict[str, Any] | None:
    """How videos are cut into moments, as the index records it (None: whole videos)."""
    if segment is None and not scenes:
        return None
    meta: dict[str, Any] = {"scenes": scenes}
    if segment is not None:
        meta.update(segment=segment, overlap=overlap)
    return meta


def _previous(target: Path, fingerprint: str, rule: str, moments: dict[str, Any] | None) -> store.Index | None:
    """The current index when it was made by this model and sampling rule, cut the same way
    (else everything is re-embedded). Indexes from before the rule was recorded used ``middle``."""
    if not (target / store.META_FILE).exists():
        return None
    try:
        index = store.open_index(target)
        if (index.meta.get("fingerprint") != fingerprint or index.meta.get("sampling", "middle") != rule
                or index.meta.get("moments") != moments):
            return None
        if not (target / store.VECTORS_FILE).exists():
            return None
        # Its vectors and records are carried into the new index: checked in full first, so
        # that a damaged file is embedded again, never given fresh digests.
        for name in (store.ITEMS_FILE, store.VECTORS_FILE):
            index_check.check_sha256(target, index.meta, name)
        index.vectors()
    except index_check.IndexDamaged:
        return None
    return index
