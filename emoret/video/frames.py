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

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from emoret import atomic
from emoret.atomic import atomic_path, save_npy
from emoret.errors import InputError
from emoret.npy_header import read_npy_header
from emoret.records import read_jsonl, write_jsonl_atomic

MANIFEST_NAME = "manifest.jsonl"


def frames_path(frames_dir: str | os.PathLike, video_id: str) -> Path:
    return Path(frames_dir) / f"{video_id}.npy"


def manifest_path(frames_dir: str | os.PathLike) -> Path:
    return Path(frames_dir) / MANIFEST_NAME


def load_frames(frames_dir: str | os.PathLike, video_id: str, rows: tuple[int, int] | None = None,
                record: dict[str, Any] | None = None) -> np.ndarray:
    """uint8 ``[T, H, W, 3]`` frames of one video (``rows`` [a, b) only: one moment's);
    :class:`InputError` when absent or bad.

    With its manifest ``record``, the file is checked to be the one the record describes
    (:func:`frames_mismatch`) on the open file, so the frames returned are those checked
    even if a writer replaces the file meanwhile.
    """
    path = frames_path(frames_dir, video_id)
    try:
        with open(path, "rb") as handle:
            shape, dtype, offset = read_npy_header(handle)
            if record is not None:
                _refuse_mismatch(path, _mismatch(os.fstat(handle.fileno()), shape, dtype, record))
            if dtype != np.uint8 or len(shape) != 4 or shape[-1] != 3:
                raise InputError(str(path), f"expected uint8 [T, H, W, 3] frames, got {dtype} {list(shape)}")
            first, last = (0, shape[0]) if rows is None else rows
            if rows is not None and not 0 <= first < last <= shape[0]:
                raise InputError(str(path), f"rows {[first, last]} outside the {shape[0]} frames stored")
            frames = np.empty((last - first, *shape[1:]), dtype=np.uint8)
            handle.seek(offset + first * (frames.nbytes // max(last - first, 1)))
            got = handle.readinto(frames.reshape(-1).data) if frames.nbytes else 0
    except FileNotFoundError:
        raise InputError(str(path), f"no frames for video {video_id!r} (run emoret extract-frames)") from None
    except (ValueError, OSError) as err:
        raise InputError(str(path), f"not a frame file ({err})") from None
    if got != frames.nbytes:
        raise InputError(str(path), f"cut short: {got} of {frames.nbytes} bytes of frames; re-run emoret extract-frames")
    return frames


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


def frames_mismatch(frames_dir: str | os.PathLike, video_id: str, record: dict[str, Any]) -> str | None:
    """Why the stored file is not the one ``record`` describes, or None when it is.
    A stat and a header read, no data.

    A run killed after writing new frames but before its manifest leaves files that
    the old records no longer describe. What the record states is compared: the
    file's size and mtime (``frames_size``, ``frames_mtime_ns``), ``n_frames`` and the
    frame side (``sampling.size``).
    """
    path = frames_path(frames_dir, video_id)
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            shape, dtype, _ = read_npy_header(handle)
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as err:
        return f"not a frame file ({err})"
    return _mismatch(stat, shape, dtype, record)


def _mismatch(stat: os.stat_result, shape: tuple[int, ...], dtype: np.dtype, record: dict[str, Any]) -> str | None:
    if "frames_size" in record and (record.get("frames_size"), record.get("frames_mtime_ns")) != (
            stat.st_size, stat.st_mtime_ns):
        return "its size or modification time differ from the record's: written after it"
    size = (record.get("sampling") or {}).get("size") if isinstance(record.get("sampling"), dict) else None
    expected = (record.get("n_frames", shape[0] if shape else None), size or (shape[1] if len(shape) > 1 else None),
                size or (shape[2] if len(shape) > 2 else None), 3)
    if dtype != np.uint8 or tuple(shape) != expected:
        return f"it holds {dtype} {list(shape)}, the record says uint8 {list(expected)}"
    return None


def frames_match(frames_dir: str | os.PathLike, video_id: str, record: dict[str, Any]) -> bool:
    """Is the stored file the one ``record`` (a record extract-frames wrote) describes?"""
    return "n_frames" in record and frames_mismatch(frames_dir, video_id, record) is None


def check_frames(frames_dir: str | os.PathLike, video_id: str, record: dict[str, Any]) -> None:
    """Refuse (:class:`InputError`) a frame file that is not the one its manifest record describes."""
    _refuse_mismatch(frames_path(frames_dir, video_id), frames_mismatch(frames_dir, video_id, record))


class FramesMismatch(InputError):
    """A frame file is not the one its manifest record describes (a reader must not use it)."""


def _refuse_mismatch(path: Path, why: str | None) -> None:
    if why is not None:
        raise FramesMismatch(str(path), f"not the file its manifest record describes ({why}); "
                             "re-run emoret extract-frames on this store")


@contextlib.contextmanager
def writer_lock(frames_dir: str | os.PathLike, wait: bool = True,
                on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """One writer a store at a time (``.DIR.lock`` beside it); :class:`emoret.atomic.Busy`
    without ``wait`` when another holds it. Two writers would each rewrite the manifest
    from what they read at the start, leaving records that describe the other's files."""
    target = Path(os.path.realpath(frames_dir))
    with atomic.writer_lock(atomic.lock_beside(target), f"{frames_dir}: another 'emoret extract-frames' "
                            "is writing this frame store", wait=wait, on_wait=on_wait):
        yield


def write_manifest(frames_dir: str | os.PathLike, records: Iterable[dict[str, Any]]) -> Path:
    path = manifest_path(frames_dir)
    write_jsonl_atomic(path, records)
    return path
