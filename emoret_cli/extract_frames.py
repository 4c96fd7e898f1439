"""``emoret extract-frames``: decode videos into a frame store (one .npy a video + manifest)."""

from __future__ import annotations

import contextlib
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from emoret.atomic import Busy
from emoret.devices import available_cpus
from emoret.errors import OutputClosed
from emoret.records import JsonlWriter
from emoret.video import extract
from emoret.video import frames as store
from emoret.video.paths import find_videos
from emoret.video.sampling import Sampling
from emoret_cli.common import (
    EXIT_FAILED,
    exit_with,
    fail,
    hint_reading_stdin,
    message,
    progress,
    quiet_stdout_after_broken_pipe,
)
from emoret_cli.samplingopt import SAMPLING_HELP, Rule, check_cutting

EPILOG = (
    "Examples: emoret extract-frames videos/ --out frames/\n\n"
    "emoret extract-frames --from captions.json --video-root videos/ --out frames/ --fps 6 --resize squash\n\n"
    "Long videos in moments: --segment 10 --overlap 2 (10 s windows, 8 s apart), or --scenes (one a shot). "
    "Unchanged videos (same size and mtime, same sampling and rule) are skipped; --force redoes them. "
    "Each manifest record is also printed on stdout."
)


class Resize(str, Enum):
    crop = "crop"
    squash = "squash"


def COMMAND(
    inputs: Optional[List[Path]] = typer.Argument(None, help="Video files, or directories searched recursively."),
    out: Path = typer.Option(..., "--out", "-o", help="Frame store directory: <video_id>.npy + manifest.jsonl."),
    from_records: Optional[str] = typer.Option(
        None, "--from", help="Caption or manifest records naming videos ('video', 'source' or 'video_id'); '-' reads stdin."),
    video_root: Path = typer.Option(Path("."), "--video-root", help="Where the --from records' files are."),
    num_frames: Optional[int] = typer.Option(None, "--num-frames", "-n", min=1,
                                             help="Frames evenly spaced over each video (default 12)."),
    sampling_rule: Optional[Rule] = typer.Option(None, "--sampling", help=SAMPLING_HELP),
    fps: Optional[float] = typer.Option(None, "--fps", min=0.001, help="Instead, keep frames at this rate."),
    size: int = typer.Option(224, "--size", min=1, help="Frame side in pixels."),
    resize: Resize = typer.Option(Resize.crop, "--resize",
                                  help="crop: short side to --size, centre crop; squash: straight to size x size."),
    segment: Optional[float] = typer.Option(
        None, "--segment", min=0.001, help="Cut each video into moments of this many seconds (frames sampled per moment)."),
    overlap: float = typer.Option(0.0, "--overlap", min=0.0, help="Seconds each --segment window shares with the next."),
    scenes: bool = typer.Option(False, "--scenes", help="Cut each video into moments at shot cuts (with --segment: long shots split)."),
    reencode: Optional[Path] = typer.Option(
        None, "--reencode", help="Also write each video here, re-encoded at --fps (else its own) with short side --size."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="Processes (default: the machine's cores)."),
    force: bool = typer.Option(False, "--force", help="Redo videos that are already extracted."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for another run on this --out, or fail at once."),
) -> None:
    """Decode videos into a frame store: DIR/<video_id>.npy (uint8 [T,H,W,3] RGB) and DIR/manifest.jsonl."""
    if num_frames is not None and fps is not None:
        fail("give --num-frames or --fps, not both")
    if sampling_rule is not None and fps is not None:
        fail("--sampling spreads --num-frames; with --fps frames are taken at that rate")
    check_cutting(segment, overlap)
    if not inputs and from_records is None:
        fail("give video files or directories, or --from FILE")
    if out.exists() and not out.is_dir():
        fail(f"{out}: not a directory")
    sources = find_videos(inputs or [])
    if from_records is not None:
        hint_reading_stdin(from_records, "extract-frames", "records naming videos", "a file: --from captions.jsonl")
        named = {path.resolve() for path in sources}
        sources += [path for path in extract.sources_from_records(from_records, video_root)
                    if path.resolve() not in named]
    rule = (sampling_rule or Rule.linspace).value
    sampling = Sampling(num_frames=None if fps else (num_frames or 12), fps=fps, size=size, resize=resize.value,
                        rule=rule, segment=segment, overlap=overlap, scenes=scenes)
    options = extract.Options(str(out), sampling, str(reencode) if reencode else None, fps)

    def waiting() -> None:
        message(f"extract-frames: waiting for another run on {out} to finish")

    try:
        with store.writer_lock(out, wait=wait, on_wait=waiting):
            _plan_and_extract(sources, options, out, force, workers)  # planned under the lock: from the manifest as it is now
    except Busy as err:
        fail(str(err), EXIT_FAILED)


def _plan_and_extract(sources, options, out: Path, force: bool, workers: Optional[int]) -> None:
    planned = extract.plan(sources, options, force=force)
    to_do = sum(isinstance(item, extract.Job) for item in planned)

    failed, reader_gone = _run_jobs(planned, options, workers or available_cpus(), to_do)
    extracted = to_do - failed
    summary = f"extract-frames: extracted {extracted}, up to date {len(planned) - to_do}, failed {failed} → {out}"
    if failed:
        summary += f" (see 'error' in {out / 'manifest.jsonl'})"
    if reader_gone:
        summary += f"; stdout's reader left early, every record is in {out / 'manifest.jsonl'}"
    message(summary)
    if failed:
        exit_with(EXIT_FAILED)


def _run_jobs(planned: list, options, workers: int, to_do: int) -> tuple[int, bool]:
    """Run the jobs, a record a video on stdout; (failures, whether stdout's reader left).

    The frames are the job and the records a by-product: a reader that goes away
    (``| head``) stops the records, not the extraction.
    """
    failed, reader_gone = 0, False
    with JsonlWriter() as stdout, progress() as bar:
        task = bar.add_task("extracting frames", total=to_do)
        runner = extract.run(planned, options, workers=workers)
        with contextlib.closing(runner):
            for item, record in zip(planned, runner, strict=True):
                if not reader_gone:
                    reader_gone = _write_or_note_gone(stdout, record)
                if not isinstance(item, extract.Job):
                    continue
                bar.advance(task)
                if "error" in record:
                    failed += 1
                    message(f"emoret: {record['source']}: {record['error']}")
                elif "warning" in record:
                    message(f"emoret: warning: {record['source']}: {record['warning']}")
    return failed, reader_gone


def _write_or_note_gone(stdout: JsonlWriter, record: dict) -> bool:
    """Write the record; True when stdout's reader has gone (stdout then points at /dev/null)."""
    try:
        stdout.write(record)
    except OutputClosed:
        quiet_stdout_after_broken_pipe()  # what is still buffered, and the final flush, go nowhere
        return True
    return False
