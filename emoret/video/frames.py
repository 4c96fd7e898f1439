"""The frame store: ``DIR/<video_id>.npy`` (uint8 ``[T, H, W, 3]`` RGB) and ``DIR/manifest.jsonl``.

One manifest record a video: ``video_id``, ``source``, ``n_frames`` (frames stored),
the source's ``fps``, ``duration``, ``width``, ``height`` and ``source_frames``, the
``frame_indices`` kept, the ``sampling`` used, the source's ``source_size`` and
``source_mtime_ns`` (to skip unchanged videos), and ``error`` where the video could
not be read or ``warning`` where it was read with a caveat. Every file is written
to a temporary name and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from emoret.atomic import atomic_path
from emoret.errors import InputError
from emoret.records import read_jsonl, write_jsonl_atomic

MANIFEST_NAME = "manifest.jsonl"


def frames_path(frames_dir: str | os.PathLike, video_id: str) -> Path:
    return Path(frames_dir) / f"{video_id}.npy"


def manifest_path(frames_dir: str | os.PathLike) -> Path:
    return Path(frames_dir) / MANIFEST_NAME


def load_frames(frames_dir: str | os.PathLike, video_id: str) -> np.ndarray:
    """uint8 ``[T, H, W, 3]`` frames of one video; :class:`InputError` when absent or bad."""
    path = frames_path(frames_dir, video_id)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(str(path), f"no frames for video {video_id!r} (run emoret extract-frames)") from None
    except (ValueError, OSError) as err:
        raise InputError(str(path), f"not a frame file ({err})") from None
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        raise InputError(str(path), f"expected uint8 [T, H, W, 3] frames, got {array.dtype} {list(array.shape)}")
    return array


def read_manifest(frames_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The manifest's records (an :class:`InputError` if there is none)."""
    path = manifest_path(frames_dir)
    if not path.exists():
        raise InputError(str(path), "no frame manifest here (run emoret extract-frames)")
    return read_jsonl(path)


def read_manifest_if_any(frames_dir: str | os.PathLike) -> list[dict[str, Any]]:
    path = manifest_path(frames_dir)
    return read_jsonl(path) if path.exists() else []


def save_frames(frames_dir: str | os.PathLike, video_id: str, frames: np.ndarray) -> Path:
    """Write one video's frames atomically (temp file beside it, then rename)."""
    path = frames_path(frames_dir, video_id)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, frames, allow_pickle=False)
        # No fsync a file: a rename already keeps a crash from exposing half a file,
        # and syncing each of thousands of small files would double the run time.
    return path


def write_manifest(frames_dir: str | os.PathLike, records: Iterable[dict[str, Any]]) -> Path:
    path = manifest_path(frames_dir)
    write_jsonl_atomic(path, records)
    return path
