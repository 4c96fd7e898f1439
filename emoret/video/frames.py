"""The frame store: ``DIR/<video_id>.npy`` (uint8 ``[T, H, W, 3]`` RGB) and ``DIR/manifest.jsonl``.

One manifest record a video: ``video_id``, ``source``, ``n_frames`` (frames stored),
the source's ``fps``, ``duration``, ``width``, ``height`` and ``source_frames``, the
``frame_indices`` kept, the ``sampling`` used, the source's ``source_size`` and
``source_mtime_ns`` (to skip unchanged videos), ``moments`` where the video was cut into
moments (each ``start``, ``end`` in seconds and its ``rows`` ``[a, b)`` of the array), and ``error`` where the video could
not be read or ``warning`` where it was read with a caveat. Every file is written
to a temporary name and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from emoret.atomic import atomic_path, save_npy
from emoret.errors import InputError
from emoret.records import read_jsonl, write_jsonl_atomic

MANIFEST_NAME = "manifest.jsonl"


def frames_path(frames_dir: str | os.PathLike, video_id: str) -> Path:
    return Path(frames_dir) / f"{video_id}.npy"


def manifest_path(frames_dir: str | os.PathLike) -> Path:
    return Path(frames_dir) / MANIFEST_NAME


def load_frames(frames_dir: str | os.PathLike, video_id: str, rows: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 ``[T, H, W, 3]`` frames of one video (``rows`` [a, b) only: one moment's);
    :class:`InputError` when absent or bad."""
    path = frames_path(frames_dir, video_id)
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r" if rows else None)
    except FileNotFoundError:
        raise InputError(str(path), f"no frames for video {video_id!r} (run emoret extract-frames)") from None
    except (ValueError, OSError) as err:
        raise InputError(str(path), f"not a frame file ({err})") from None
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        raise InputError(str(path), f"expected uint8 [T, H, W, 3] frames, got {array.dtype} {list(array.shape)}")
    if rows is not None:
        if not 0 <= rows[0] < rows[1] <= len(array):
            raise InputError(str(path), f"rows {list(rows)} outside the {len(array)} frames stored")
        return np.array(array[rows[0]:rows[1]])
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
    """Write one video's frames atomically (temp file beside it, then rename).

    On a failed write (a full disk) the earlier file stays as it was.
    """
    path = frames_path(frames_dir, video_id)
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                save_npy(handle, frames)
            # No fsync a file: a rename already keeps a crash from exposing half a file,
            # and syncing each of thousands of small files would double the run time.
    except OSError as err:
        if err.filename is None:
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise
    return path


def file_identity(path: Path) -> dict[str, int]:
    """What the manifest keeps of a frame file, to tell it from one written later."""
    stat = path.stat()
    return {"frames_size": stat.st_size, "frames_mtime_ns": stat.st_mtime_ns}


def frames_match(frames_dir: str | os.PathLike, video_id: str, record: dict[str, Any]) -> bool:
    """Is the stored file the one ``record`` describes? A stat and a header read, no data.

    A run killed after writing new frames but before its manifest leaves files
    that the old records no longer describe.
    """
    path = frames_path(frames_dir, video_id)
    try:
        stat = path.stat()
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(handle)
    except (OSError, ValueError):
        return False
    if "frames_size" in record and (record.get("frames_size"), record.get("frames_mtime_ns")) != (
            stat.st_size, stat.st_mtime_ns):
        return False
    size = (record.get("sampling") or {}).get("size")
    expected = (record.get("n_frames"), size, size, 3)
    return dtype == np.uint8 and tuple(shape) == expected


def write_manifest(frames_dir: str | os.PathLike, records: Iterable[dict[str, Any]]) -> Path:
    path = manifest_path(frames_dir)
    write_jsonl_atomic(path, records)
    return path
