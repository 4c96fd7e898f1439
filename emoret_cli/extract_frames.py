"""``emoret extract-frames``: decode videos into a frame store (one .npy a video + manifest)."""

from __future__ import annotations

import contextlib
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional

import typer

from emoret import api
from emoret.errors import OutputClosed
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
    if from_records is not None:
        hint_reading_stdin(from_records, "extract-frames", "records naming videos", "a file: --from captions.jsonl")
    sampling = api.Sampling(num_frames=None if fps else (num_frames or 12), fps=fps, size=size, resize=resize.value,
                            rule=(sampling_rule or Rule.linspace).value, segment=segment, overlap=overlap, scenes=scenes)
    try:
        with progress() as bar:
            task = bar.add_task("extracting frames", total=0)
            records = api.extract_frames(out, inputs or [], from_records, video_root, sampling, reencode, workers, force,
                                         wait, message, on_total=lambda n: bar.update(task, total=n))
            with contextlib.closing(records):
                counts = _write_and_count(records, lambda: bar.advance(task))
    except api.Busy as err:
        fail(str(err), EXIT_FAILED)
    _summary(out, *counts)


def _write_and_count(records: Iterable[tuple[dict[str, Any], bool]], step: Callable[[], None]) -> tuple[int, int, int, bool]:
    """Each record on stdout, each video done now and failed said; (done now, up to date, failed,
    whether stdout's reader left). The frames are the job and the records a by-product: a reader
    that goes away (``| head``) stops the records, not the extraction."""
    done = kept = failed = 0
    reader_gone = False
    with api.JsonlWriter() as stdout:
        for record, now in records:
            if not reader_gone:
                reader_gone = _write_or_note_gone(stdout, record)
            if not now:
                kept += 1
                continue
            done += 1
            step()
            if "error" in record:
                failed += 1
                message(f"emoret: {record['source']}: {record['error']}")
            elif "warning" in record:
                message(f"emoret: warning: {record['source']}: {record['warning']}")
    return done, kept, failed, reader_gone


def _summary(out: Path, done: int, kept: int, failed: int, reader_gone: bool) -> None:
    summary = f"extract-frames: extracted {done - failed}, up to date {kept}, failed {failed} → {out}"
    if failed:
        summary += f" (see 'error' in {out / 'manifest.jsonl'})"
    if reader_gone:
        summary += f"; stdout's reader left early, every record is in {out / 'manifest.jsonl'}"
    message(summary)
    if failed:
        exit_with(EXIT_FAILED)


def _write_or_note_gone(stdout: api.JsonlWriter, record: dict[str, Any]) -> bool:
    """Write the record; True when stdout's reader has gone (stdout then points at /dev/null)."""
    try:
        stdout.write(record)
    except OutputClosed:
        quiet_stdout_after_broken_pipe()  # what is still buffered, and the final flush, go nowhere
        return True
    return False
