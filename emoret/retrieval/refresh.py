"""Keep an index in step with folders of videos: embed what is new or changed, drop what is gone.

Made for cron: a run where nothing changed rewrites nothing. A video counts as
unchanged when its path, size and modification time match the indexed record
and the index was made by the same model (same fingerprint) with the same frame
sampling rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from emoret.errors import InputError
from emoret.retrieval import embed
from emoret.retrieval import index as store
from emoret.retrieval.encoder import Encoder
from emoret.video.decode import DEFAULT_RULE


@dataclass
class RefreshResult:
    kept: int = 0
    embedded: int = 0
    removed: int = 0  # indexed videos whose file is gone
    failed: list[embed.VideoFailure] = field(default_factory=list)
    written: bool = False


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
    on_failure: Callable[[embed.VideoFailure], None] | None = None,
    rule: str = DEFAULT_RULE,
) -> RefreshResult:
    """Bring the index at ``target`` up to date with the videos under ``paths``.

    The caller holds :func:`emoret.retrieval.index.writer_lock`. ``params``: m, ef_construction, ef.
    ``rule``: how frames are chosen (see :func:`emoret.video.decode.sample_indices`).
    """
    target = Path(target)
    paths = list(paths)
    items = embed.items_from_files(paths, int(model.num_frames), int(model.image_size), rule)
    if not items:
        raise InputError(", ".join(str(p) for p in paths), "no video files found")
    previous = _previous(target, model.fingerprint, rule)
    old_items: list[dict[str, Any]] = previous.items if previous is not None else []
    old_rows = {_unchanged_key(item): row for row, item in enumerate(old_items)}
    old_vectors = previous.vectors() if previous is not None else None

    result = RefreshResult()
    reused: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}
    fresh: list[tuple[int, embed.VideoItem]] = []
    for position, item in enumerate(items):
        row = old_rows.get(_unchanged_key(item.record))
        if row is not None and old_vectors is not None:
            reused[position] = (np.asarray(old_vectors[row]), old_items[row])
        else:
            fresh.append((position, item))
    result.kept = len(reused)
    present = {item.record["path"] for item in items}
    result.removed = sum(1 for item in old_items if item.get("path") not in present)
    if on_start:
        on_start(len(fresh))

    failures: list[embed.VideoFailure] = []

    def failed(failure: embed.VideoFailure) -> None:
        failures.append(failure)
        if on_failure:
            on_failure(failure)

    new_vectors, new_records = embed.embed_videos(
        model, [item for _, item in fresh], batch_size, on_item=on_item, on_failure=failed, rule=rule
    )
    result.failed = failures
    result.embedded = len(new_records)
    embedded_at = {id(record): i for i, record in enumerate(new_records)}

    vectors, records = [], []
    for position, item in enumerate(items):
        if position in reused:
            vector, record = reused[position]
        elif id(item.record) in embedded_at:
            vector, record = new_vectors[embedded_at[id(item.record)]], item.record
        else:
            continue
        vectors.append(vector)
        records.append(record)

    same_params = previous is not None and all(previous.meta.get(k) == v for k, v in params.items())
    if not records or (same_params and records == old_items):
        return result
    meta = embed.model_meta(model, model_spec)
    meta["source"] = "videos"
    meta["sampling"] = rule
    store.write_index(target, np.stack(vectors), records, meta, **params)
    result.written = True
    return result


def _previous(target: Path, fingerprint: str, rule: str) -> store.Index | None:
    """The current index when it was made by this model and sampling rule (else everything
    is re-embedded). Indexes from before the rule was recorded used ``middle``."""
    if not (target / store.META_FILE).exists():
        return None
    index = store.open_index(target)
    if index.meta.get("fingerprint") != fingerprint or index.meta.get("sampling", "middle") != rule:
        return None
    if not (target / store.VECTORS_FILE).exists():
        return None
    return index
