"""The output directory of a run: its settings, its metrics log, and the checks before writing.

    OUT/train_config.json       the settings of the run
    OUT/metrics.jsonl           one line an optimiser step, one an epoch (validation)
    OUT/checkpoints/, last, best   see :mod:`emoret.train.checkpoint`
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from emoret.atomic import write_bytes_atomic
from emoret.errors import InputError
from emoret.records import JsonlWriter, dumps
from emoret.train.checkpoint import read_train_state
from emoret.train.config import TrainConfig
from emoret.train.distributed import Runtime

CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"
# Settings a resumed run may change: more epochs stretch the cosine; the rest do not touch the maths.
RESUMABLE_CHANGES = ("device", "epochs", "threads")


def took_a_step(out: Path) -> bool:
    """Whether a run in ``out`` got as far as an optimiser step (a metrics line or a checkpoint).

    A run that stopped before that (bad input, a model that would not load) has nothing
    to continue, and must not stand in the way of the next one.
    """
    if (out / "last").exists() or (out / "checkpoints").exists():
        return True
    metrics = out / METRICS_FILE
    return metrics.exists() and metrics.stat().st_size > 0


def check_out(config: TrainConfig, resume: bool) -> tuple[TrainConfig, dict[str, Any] | None, bool]:
    """Check OUT, writing nothing: (settings, the train state saved with the last checkpoint
    when resuming, whether the settings file is to be (re)written once every input is checked)."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "not a directory")
    saved_path = out / CONFIG_FILE
    started = took_a_step(out)
    if resume:
        if not saved_path.exists():
            raise InputError(str(out), "no training run here to resume")
        if not started:
            return config, None, True  # nothing was trained: start afresh with the settings given
        saved = TrainConfig(**json.loads(saved_path.read_text()))
        differing = [
            f.name
            for f in fields(TrainConfig)
            if getattr(saved, f.name) != getattr(config, f.name) and f.name not in RESUMABLE_CHANGES
        ]
        if differing:
            key = differing[0]
            raise InputError(
                str(saved_path),
                f"--resume continues with the saved settings, but {key} differs "
                f"(saved {getattr(saved, key)!r}, given {getattr(config, key)!r})",
            )
        return config, read_train_state(out), saved.epochs != config.epochs
    if started:
        raise InputError(str(out), "already holds a training run: --resume to continue it, or choose another --out")
    return config, None, True


def write_settings(config: TrainConfig, runtime: Runtime) -> None:
    """Write OUT/train_config.json (main process), after every process has checked OUT."""
    runtime.barrier()
    if runtime.main:
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        _write_config(out / CONFIG_FILE, config)


def discard_unstarted(out: Path, runtime: Runtime) -> None:
    """After a run that failed before its first step: remove the settings and empty log it wrote."""
    if not runtime.main or took_a_step(out):
        return
    for name in (CONFIG_FILE, METRICS_FILE):
        (out / name).unlink(missing_ok=True)


def _write_config(path: Path, config: TrainConfig) -> None:
    write_bytes_atomic(path, (json.dumps(asdict(config), indent=2) + "\n").encode())


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl's records; a last line torn by a kill mid-write is dropped.

    Only the last line: a bad line with more after it is bad input as anywhere else.
    """
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    tail = lines.pop() if lines else b""  # after the last newline: empty, or a line cut short
    complete = b"\n".join(lines) + (b"\n" if lines else b"")
    records = []
    for number, line in enumerate(complete.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            if number == len(lines) and not tail.strip():
                break  # the last complete-looking line is cut inside (a kill between writes)
            raise InputError(str(path), "malformed JSON", number) from None
    return records


class MetricsLog:
    """metrics.jsonl, appended a line at a time; a resumed run first drops the lines
    written after its checkpoint, so the file reads as one uninterrupted run.

    Only the main process writes (``active``); on the others it does nothing.
    """

    def __init__(self, path: Path, active: bool, keep_until_step: int | None = None):
        self.handle: IO[bytes] | None = None
        if not active:
            return
        if keep_until_step is not None and path.exists():
            kept = [r for r in read_metrics(path) if int(r.get("step", 0)) <= keep_until_step]
            with JsonlWriter(path) as writer:
                writer.write_all(kept)
        self.handle = open(path, "ab")

    def write(self, record: dict[str, Any]) -> None:
        if self.handle is not None:
            try:
                self.handle.write(dumps(record))
                self.handle.flush()
            except OSError as err:
                if err.filename is None:
                    raise OSError(err.errno, err.strerror, self.handle.name) from None
                raise

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
