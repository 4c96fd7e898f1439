"""Extracting many videos into the frame store: incremental, parallel, never half-written.

:func:`plan` decides, per video, what is still to do: a video whose record says it was
extracted from a file of the same size and modification time, with the same sampling,
and whose ``.npy`` is there, is kept as it is (unless ``force``). :func:`run` does the
rest in worker processes and yields one manifest record a video, in input order. The
manifest is rewritten (atomically) every few seconds and when the run ends, however it
ends, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator, Iterable

from emoret.atomic import is_disk_error, sweep_stale_temps
from emoret.devices import available_cpus
from emoret.errors import InputError
from emoret.records import check_file_name, iter_numbered, source_name
from emoret.video import frames as store
from emoret.video.container import VideoError
from emoret.video.decode import extract
from emoret.video.paths import VIDEO_EXTENSIONS
from emoret.video.reencode import reencode_video
from emoret.video.sampling import Sampling, sampling_record
from emoret.workers import quiet_worker, stop_pool

CHECKPOINT_SECONDS = 5.0


@dataclass(frozen=True)
class Job:
    """One video to (re)do: its frames, its re-encoded copy, or both."""

    video_id: str
    source: str
    size: int | None
    mtime_ns: int | None
    frames: bool
    reencode: bool
    previous: dict[str, Any] | None = None  # the record whose frames are kept (frames=False)


@dataclass(frozen=True)
class Options:
    out_dir: str
    sampling: Sampling
    reencode_dir: str | None = None
    reencode_fps: float | None = None
    threads: int = 0  # decoder threads a video (0: automatic)


def sources_from_records(path: str | os.PathLike | None, video_root: str | os.PathLike = ".") -> list[Path]:
    """Video files named by caption or manifest records (``video``, ``source`` or ``video_id``).

    Paths are relative to ``video_root``. A record with only a ``video_id`` names the
    first ``video_root/<video_id>.<video extension>`` that exists. Each file once.
    """
    root = Path(video_root)
    found: list[Path] = []
    seen: set[str] = set()
    for line, record in iter_numbered(path):
        name = record.get("source") or record.get("video")
        if name is not None:
            candidate = root / check_file_name(str(name), source_name(path), line)
        elif record.get("video_id") is not None:
            video_id = check_file_name(str(record["video_id"]), source_name(path), line, suffix=".npy")
            candidate = _by_id(root, video_id)
        else:
            raise InputError(source_name(path), "record has no 'video', 'source' or 'video_id'", line)
        key = os.path.abspath(candidate)
        if key not in seen:
            seen.add(key)
            found.append(candidate)
    return found


def _by_id(root: Path, video_id: str) -> Path:
    for extension in sorted(VIDEO_EXTENSIONS):
        candidate = root / f"{video_id}{extension}"
        if candidate.exists():
            return candidate
    return root / video_id  # reported as missing, like any absent file


def plan(sources: Iterable[Path], options: Options, force: bool = False) -> list[Job | dict[str, Any]]:
    """Per source, in order: a :class:`Job`, or the manifest record kept as it is."""
    existing = {record.get("video_id"): record for record in store.read_manifest_if_any(options.out_dir)}
    wanted_sampling = options.sampling.as_record()
    owners: dict[str, Path] = {}
    planned: list[Job | dict[str, Any]] = []
    for source in sources:
        video_id = source.stem
        if video_id in owners:
            raise InputError(str(source), f"two videos would share the id {video_id!r} (also {owners[video_id]})")
        owners[video_id] = source
        size, mtime_ns = _stat(source)
        record = existing.get(video_id)
        # The manifest's record, when the source is the file it was made from.
        same = record if (
            record is not None
            and not force
            and "error" not in record
            and size is not None
            and record.get("source_size") == size
            and record.get("source_mtime_ns") == mtime_ns
        ) else None
        frames_done = same is not None and sampling_record(same.get("sampling")) == wanted_sampling and store.frames_match(
            options.out_dir, video_id, same)
        reencode_done = options.reencode_dir is None or (
            same is not None
            and same.get("reencoded") == str(_reencode_path(options.reencode_dir, video_id))
            and same.get("reencoded_fps") == options.reencode_fps
            and _reencode_path(options.reencode_dir, video_id).exists()
        )
        if same is not None and frames_done and reencode_done:
            planned.append({**same, "source": str(source)})
        else:
            planned.append(Job(video_id, str(source), size, mtime_ns, frames=not frames_done,
                               reencode=not reencode_done, previous=same if frames_done else None))
    return planned


def _stat(path: Path) -> tuple[int | None, int | None]:
    try:
        stat = path.stat()
    except OSError:
        return None, None
    return stat.st_size, stat.st_mtime_ns


def _reencode_path(reencode_dir: str, video_id: str) -> Path:
    return Path(reencode_dir) / f"{video_id}.mp4"


def run(planned: list[Job | dict[str, Any]], options: Options, workers: int = 1) -> Generator[dict[str, Any], None, None]:
    """Do the jobs; yield every record (kept or new) in input order.

    Use it as ``with contextlib.closing(run(...))`` or iterate it to the end: the
    manifest is written when the generator finishes or is closed.
    """
    sweep_stale_temps(options.out_dir)  # left by a run that was killed
    manifest = _Manifest(options.out_dir)
    jobs = [item for item in planned if isinstance(item, Job)]
    workers = max(1, min(workers, len(jobs)))
    if workers > 1 and options.threads == 0:
        # FFmpeg's automatic count in every process would oversubscribe the cores a lot;
        # two frame threads each still cost little (~8% CPU) and keep the cores busy
        # when a worker waits, or when other programs share the machine.
        threads = max(2, available_cpus() // workers)
        options = Options(**{**options.__dict__, "threads": threads})
    results = _results(jobs, options, workers)
    try:
        for item in planned:
            record = next(results) if isinstance(item, Job) else item
            manifest.put(record)
            yield record
        for _ in results:  # lets the pool end by its queue (no job is left)
            pass
    finally:
        results.close()  # stops the workers first, so none writes after the manifest
        manifest.write()


def _results(jobs: list[Job], options: Options, workers: int) -> Generator[dict[str, Any], None, None]:
    if workers == 1:
        for job in jobs:
            yield do_job(job, options)
        return
    import av  # noqa: F401  (once, before the fork, not once a worker)

    context = multiprocessing.get_context("fork")
    pool = context.Pool(workers, initializer=quiet_worker, initargs=(os.getpid(),))
    try:
        yield from pool.imap(_do_job_star, [(job, options) for job in jobs], chunksize=1)
        pool.close()  # done: the workers leave at the end of the queue, no signal needed
        pool.join()
    finally:
        stop_pool(pool)  # stopped early (an error, Ctrl-C, the reader gone): SIGTERM, then SIGKILL


def _do_job_star(args: tuple[Job, Options]) -> dict[str, Any]:
    return do_job(*args)


def do_job(job: Job, options: Options) -> dict[str, Any]:
    """Extract (and re-encode) one video; its manifest record, with ``error`` if it failed."""
    record: dict[str, Any] = {"video_id": job.video_id, "source": job.source}
    base = {"sampling": options.sampling.as_record(), "source_size": job.size, "source_mtime_ns": job.mtime_ns}
    try:
        if job.frames:
            extracted = extract(job.source, options.sampling, threads=options.threads)
            saved = store.save_frames(options.out_dir, job.video_id, extracted.frames)
            record.update(store.file_identity(saved))
            record.update(
                n_frames=int(extracted.frames.shape[0]),
                fps=extracted.fps,
                duration=extracted.duration,
                width=extracted.width,
                height=extracted.height,
                source_frames=extracted.source_frames,
                frame_indices=extracted.indices,
            )
            if extracted.moments is not None:
                record["moments"] = [{"start": a, "end": b, "rows": [r0, r1]} for a, b, r0, r1 in extracted.moments]
            if extracted.warnings:
                record["warning"] = "; ".join(extracted.warnings)
        elif job.previous is not None:
            record.update({k: v for k, v in job.previous.items() if k not in ("reencoded", "reencoded_fps")})
            record["source"] = job.source
        if job.reencode and options.reencode_dir is not None:  # plan() sets reencode only with a dir
            target = _reencode_path(options.reencode_dir, job.video_id)
            reencode_video(job.source, target, fps=options.reencode_fps, size=options.sampling.size,
                           threads=options.threads)
            record["reencoded"] = str(target)
            record["reencoded_fps"] = options.reencode_fps
    except VideoError as err:
        return _failed(job, options, str(err), base)
    except OSError as err:
        if is_disk_error(err):
            raise  # a full disk stops the run; the frames already there stay as they are
        return _failed(job, options, f"{type(err).__name__}: {err}", base)
    except Exception as err:  # a decoder surprise on one file must not stop the others
        return _failed(job, options, f"{type(err).__name__}: {err}", base)
    record.update(base)
    return record


def _failed(job: Job, options: Options, error: str, base: dict[str, Any]) -> dict[str, Any]:
    # Frames left from an earlier version of the file would no longer match its record.
    store.frames_path(options.out_dir, job.video_id).unlink(missing_ok=True)
    return {"video_id": job.video_id, "source": job.source, "error": error, **base}


class _Manifest:
    """The store's records by video id: earlier ones kept, new ones replacing them."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.records = {record.get("video_id"): record for record in store.read_manifest_if_any(out_dir)}
        self.dirty = False
        self.last_write = time.monotonic()

    def put(self, record: dict[str, Any]) -> None:
        if self.records.get(record["video_id"]) != record:
            self.records[record["video_id"]] = record
            self.dirty = True
        if self.dirty and time.monotonic() - self.last_write > CHECKPOINT_SECONDS:
            self.write()

    def write(self) -> None:
        if self.dirty or not store.manifest_path(self.out_dir).exists():
            Path(self.out_dir).mkdir(parents=True, exist_ok=True)
            store.write_manifest(self.out_dir, self.records.values())
            self.dirty = False
        self.last_write = time.monotonic()
