"""``feel`` over a list of videos: scene scores from their embeddings, faces from their frames.

Frames are loaded once: the face reader runs on them on the loading thread while
the model embeds the previous batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from emoret.embedding.encoder import Encoder
from emoret.embedding.runner import embed_videos
from emoret.embedding.sources import Rows, VideoFailure, VideoItem, items_from_files, items_from_frames
from emoret.errors import ModelError
from emoret.fields import VideoRecord
from emoret.perception.aggregate import DEFAULT_FACE_SHARE, as_dict, combine
from emoret.perception.faces import FaceReader, FaceSummary
from emoret.perception.scene import SceneReader

# Frames a video when no model (no scene) says how many and how large: faces only.
NO_MODEL_FRAMES = 8
NO_MODEL_SIZE = 320


def feel_items(model: Encoder | None, videos: Sequence[str | os.PathLike[str]] = (),
               frames: str | os.PathLike[str] | None = None,
               say: Callable[[str], None] | None = None) -> list[VideoItem]:
    """The videos of a frame store (``frames``; those extract-frames could not read are said
    and skipped), or of video files and folders, sampled as the model takes them."""
    if frames is not None:
        items, broken = items_from_frames(frames)
        for record in broken:
            if say is not None:
                say(f"feel: skipping {VideoRecord(record).label} ({record['error']})")
        return items
    num_frames = int(model.num_frames) if model is not None else NO_MODEL_FRAMES
    size = int(model.image_size) if model is not None else NO_MODEL_SIZE
    return items_from_files(videos, num_frames, size)


def _with_faces(item: VideoItem, faces: FaceReader, seen: dict[int, FaceSummary]) -> VideoItem:
    def load() -> Rows:
        rows = item.load()  # one (record, frames) a moment, or one for the whole video
        for record, frames in rows:
            seen[id(record)] = faces(frames)
        return rows

    return VideoItem(item.record, load)


def feel(items: Sequence[VideoItem], model: Encoder | None = None, faces: FaceReader | None = None,
         face_share: float = DEFAULT_FACE_SHARE, batch_size: int = 8,
         on_item: Callable[[], None] | None = None,
         on_failure: Callable[[VideoFailure], None] | None = None) -> list[dict[str, Any]]:
    """The readable items' records with ``video_emotions`` (and ``faces`` when read), in order.

    ``model`` None: no scene source; ``faces`` None: no face source.
    """
    seen: dict[int, FaceSummary] = {}
    if faces is not None:
        items = [_with_faces(item, faces, seen) for item in items]
    if model is not None:
        reader = SceneReader(model)
        vectors, records = embed_videos(model, items, batch_size, on_item=on_item, on_failure=on_failure)
        scenes = list(reader(vectors)) if len(records) else []
    else:
        records, scenes = _load_only(items, on_item, on_failure)
    source = model.source if model is not None else "the face model"
    return [feel_record(record, scene, seen.get(id(record)), faces is not None, face_share, source)
            for record, scene in zip(records, scenes, strict=False)]


def feel_record(record: dict[str, Any], scene: np.ndarray | None, summary: FaceSummary | None, faces_read: bool,
                face_share: float, source: str) -> dict[str, Any]:
    """``record`` with ``video_emotions`` (and ``faces`` when they were read); ``source``
    names what gave NaN, should the scores hold any (each source checks its own: the contract)."""
    result = dict(record)
    scores = combine(scene, summary, face_share)
    if not np.isfinite(scores).all():
        raise ModelError(source, "gave NaN or infinite emotion scores")
    result["video_emotions"] = as_dict(scores)
    if faces_read:
        result["faces"] = (summary or FaceSummary(None, 0, 0, 0)).as_record()
    return result


def _load_only(items: Sequence[VideoItem], on_item: Callable[[], None] | None,
               on_failure: Callable[[VideoFailure], None] | None) -> tuple[list[dict[str, Any]], list[None]]:
    """Faces without a scene: load each video (which reads its faces) and keep the readable ones."""
    from emoret.errors import InputError
    from emoret.video.container import VideoError

    records: list[dict[str, Any]] = []
    for item in items:
        try:
            records.extend(record for record, _ in item.load())
        except (VideoError, InputError) as err:
            if on_failure:
                on_failure(VideoFailure(item.record, str(err)))
        if on_item:
            on_item()
    return records, [None] * len(records)
