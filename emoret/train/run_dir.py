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

from emoret.atomic import write_bytes_atomic
from emoret.errors import InputError
from emoret.records import JsonlWriter, dumps, read_jsonl
from emoret.train.checkpoint import read_train_state
from emoret.train.config import TrainConfig
from emoret.train.distributed import Runtime

CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"
# Settings a resumed run may change: more epochs stretch the cosine; the rest do not touch the maths.
RESUMABLE_CHANGES = ("device", "epochs", "threads")


def prepare_out(config: TrainConfig, resume: bool, runtime: Runtime) -> tuple[TrainConfig, dict[str, Any] | None]:
    """Check OUT, write the settings (fresh run) or read them back (resume).

    Returns the settings and, when resuming, the train state saved with the last checkpoint.
    """
    out = Path(config.out)
    saved_path = out / CONFIG_FILE
    if resume:
        if not saved_path.exists():
            raise InputError(str(out), "no training run here to resume")
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
        if saved.epochs != config.epochs and runtime.main:
            _write_config(saved_path, config)
        return config, read_train_state(out)
    if saved_path.exists() or (out / METRICS_FILE).exists():
        raise InputError(str(out), "already holds a training run: --resume to continue it, or choose another --out")
    runtime.barrier()  # every process has looked before the first one writes
    if runtime.main:
        out.mkdir(parents=True, exist_ok=True)
        _write_config(saved_path, config)
    return config, None


def _write_config(path: Path, config: TrainConfig) -> None:
    write_bytes_atomic(path, (json.dumps(asdict(config), indent=2) + "\n").encode())


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
            kept = [r for r in read_jsonl(path) if int(r.get("step", 0)) <= keep_until_step]
            with JsonlWriter(path) as writer:
                writer.write_all(kept)
        self.handle = open(path, "ab")

    def write(self, record: dict[str, Any]) -> None:
        if self.handle is not None:
            self.handle.write(dumps(record))
            self.handle.flush()

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
