"""Embedding sets made with a model: captions or videos in, NAME.npy + NAME.jsonl + NAME.meta.json out.

What ``emoret embed`` does, for any caller: the items of a frame store or of video files,
one shard of them, embedded and saved with the model's meta. Notes go to ``say``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoret.embedding import files as set_files
from emoret.embedding import runner as embed
from emoret.embedding import sources
from emoret.embedding.encoder import Encoder
from emoret.fields import VideoRecord
from emoret.index.build import Cutting, Say, quiet
from emoret.video.sampling import DEFAULT_RULE

WHOLE = (0, 1)  # the shard that is every item


class NoVideos(Exception):
    """No video to work on: none given, none in this shard, or none a frame store could read."""


@dataclass
class WrittenSet:
    """An embedding set written (``path`` None when no video could be read)."""

    path: Path | None
    count: int
    moments: bool = False
    failures: list[sources.VideoFailure] = field(default_factory=list)


def caption_set(model: Encoder, captions: Sequence[dict[str, Any]], out: str | os.PathLike[str],
                meta: dict[str, Any], use_emotion: bool = True, batch_size: int = 64, shard: tuple[int, int] = WHOLE,
                precision: str | None = None, on_batch: Callable[[int], None] | None = None) -> WrittenSet:
    """The ``shard`` of ``captions`` embedded (with their emotion vectors unless not
    ``use_emotion``) and saved as ``out``; ``meta``: the model's (:func:`set_files.model_meta`)."""
    start, stop = sources.shard_bounds(len(captions), shard)
    records = list(captions[start:stop])
    emotions = embed.text_emotions(records) if use_emotion else None
    vectors = embed.embed_texts(model, [record["caption"] for record in records], emotions, batch_size,
                                on_batch=on_batch, precision=precision)
    meta.update(kind="texts", emotion=use_emotion)
    return WrittenSet(set_files.save_embeddings(out, vectors, records, meta), len(records))


def video_items(model: Encoder, paths: Sequence[str | os.PathLike[str]] = (), frames: str | os.PathLike[str] | None = None,
                rule: str = DEFAULT_RULE, cutting: Cutting | None = None, shard: tuple[int, int] = WHOLE,
                say: Say = quiet, command: str = "embed") -> list[sources.VideoItem]:
    """The ``shard`` of the videos of a frame store (``frames``; those extract-frames could not
    read are said and skipped) or of video files and folders (``paths``, cut by ``cutting``)."""
    if frames is not None:
        items, broken = sources.items_from_frames(frames)
        for record in broken:  # extract-frames already failed for these: said, not a failure of this run
            say(f"{command}: skipping {VideoRecord(record).label} ({record['error']})")
    else:
        cutting = cutting or Cutting()
        items = sources.items_from_files(paths, int(model.num_frames), int(model.image_size), rule=rule,
                                       segment=cutting.segment, overlap=cutting.overlap, scenes=cutting.scenes)
    start, stop = sources.shard_bounds(len(items), shard)
    return items[start:stop]


def video_set(model: Encoder, items: Sequence[sources.VideoItem], out: str | os.PathLike[str], meta: dict[str, Any],
              batch_size: int = 8, rule: str = DEFAULT_RULE, precision: str | None = None,
              decode_workers: int | None = None, on_item: Callable[[], None] | None = None,
              on_failure: Callable[[sources.VideoFailure], None] | None = None) -> WrittenSet:
    """``items`` embedded and saved as ``out`` (nothing written when none could be read); a
    video that cannot be read goes to ``on_failure`` and into the result's ``failures``."""
    failures: list[sources.VideoFailure] = []

    def failed(failure: sources.VideoFailure) -> None:
        failures.append(failure)
        if on_failure is not None:
            on_failure(failure)

    vectors, records = embed.embed_videos(model, items, batch_size, on_item=on_item, on_failure=failed, rule=rule,
                                          precision=precision, decode_workers=decode_workers)
    meta.update(kind="videos")
    if not records:
        return WrittenSet(None, 0, failures=failures)
    path = set_files.save_embeddings(out, vectors, records, meta)
    return WrittenSet(path, len(records), any("moment_id" in record for record in records), failures)
