"""Whole commands for preparing data and looking at results, re-exported by :mod:`emoret.api`:
a frame store extracted, a model trained, a page of search hits."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emoret.train.config import TrainConfig
    from emoret.video.decode import Sampling

PathLike = str | os.PathLike[str]


def _quiet(_: str) -> None:
    pass


def extract_frames(out: PathLike, videos: Sequence[PathLike] = (), records: PathLike | None = None,
                   video_root: PathLike = ".", sampling: Sampling | None = None, reencode: PathLike | None = None,
                   workers: int | None = None, force: bool = False, wait: bool = True, say: Callable[[str], None] = _quiet,
                   on_total: Callable[[int], None] | None = None) -> Generator[tuple[dict[str, Any], bool], None, None]:
    """Decode ``videos`` (files, folders searched) and those ``records`` name (under ``video_root``)
    into the frame store ``out``, as ``emoret extract-frames``: each manifest record in input order,
    with whether it was (re)done now (False: up to date); a failure is a record with ``error``.
    The store's writer lock is held until the iterator ends or is closed (:class:`Busy` without ``wait``)."""
    from emoret.devices import available_cpus
    from emoret.video import extract
    from emoret.video import frames as store
    from emoret.video.decode import Sampling
    from emoret.video.paths import find_videos

    sampling = sampling or Sampling()
    sources = find_videos(videos)
    if records is not None:
        named = {path.resolve() for path in sources}
        sources += [path for path in extract.sources_from_records(records, video_root) if path.resolve() not in named]
    options = extract.Options(str(out), sampling, str(reencode) if reencode else None, sampling.fps)
    with store.writer_lock(out, wait=wait, on_wait=lambda: say(f"extract-frames: waiting for another run on {out} to finish")):
        planned = extract.plan(sources, options, force=force)  # under the lock: from the manifest as it is now
        if on_total is not None:
            on_total(sum(isinstance(item, extract.Job) for item in planned))
        runner = extract.run(planned, options, workers=workers or available_cpus())
        try:
            for item, record in zip(planned, runner, strict=True):
                yield record, isinstance(item, extract.Job)
        finally:
            runner.close()


def train_settings(config: PathLike | None = None, out: PathLike | None = None, resume: bool = False) -> dict[str, Any]:
    """Training settings from the file ``config`` (JSON or YAML), or, resuming the run in ``out``
    without one, that run's own; {} when neither."""
    from emoret.train.config import read_config_file
    from emoret.train.run_dir import CONFIG_FILE

    if config is not None:
        return read_config_file(config)
    saved = Path(out or "") / CONFIG_FILE
    return read_config_file(saved) if resume and out and saved.exists() else {}


def train_config(settings: dict[str, Any], flags: dict[str, Any], source: str = "flags") -> TrainConfig:
    """The training configuration: ``settings`` (from :func:`train_settings`) overridden by ``flags``
    (None: not given), each checked (InputError naming ``source``)."""
    from emoret.train.config import make_config

    return make_config(settings, flags, source=source)


def train(config: TrainConfig, resume: bool = False, on_record: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Train (``emoret train``); returns the run directory (``best/``, ``last/``, ``metrics.jsonl``);
    ``on_record`` sees every metrics record."""
    from emoret.train.loop import train as run

    return run(config, resume=resume, on_record=on_record)


def gallery_page(hits: Sequence[dict[str, Any]], frames: PathLike | None = None, thumbnails: int = 4,
                 title: str = "emoret search") -> str:
    """A self-contained HTML page of search hits (``emoret gallery``): thumbnails from the frame
    store ``frames``, else decoded from the videos."""
    from emoret.report.gallery import FrameSource, render

    return render(hits, FrameSource(frames, count=thumbnails), title)


def write_gallery(out: PathLike, hits: Sequence[dict[str, Any]], frames: PathLike | None = None,
                  thumbnails: int = 4, title: str = "emoret search") -> Path:
    """:func:`gallery_page` written to ``out`` atomically."""
    from emoret.report.gallery import FrameSource, write_page

    return write_page(out, hits, FrameSource(frames, count=thumbnails), title)
