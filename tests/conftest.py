"""Shared fixtures: the CLI run in-process (``run_cli``) and the retrieval test data (``env``)."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass

import orjson
import pytest
from retrieval_data import Env

# As on a CPU without int8 instructions, whatever CPU runs the tests: `--precision auto` never
# quantizes here (it would, once measured, on a CPU with VNNI). Tests of int8 set it themselves.
os.environ["EMORET_CPU_VNNI"] = "0"


@dataclass
class CliResult:
    code: int
    stdout: bytes
    stderr: str

    @property
    def records(self) -> list[dict]:
        return [orjson.loads(line) for line in self.stdout.splitlines() if line.strip()]


@pytest.fixture
def run_cli(monkeypatch):
    """Run ``emoret ARGS`` through its real entry point; returns exit code, stdout, stderr."""
    from emoret_cli.main import main

    def run(*args: str, stdin: bytes | str = b"") -> CliResult:
        if isinstance(stdin, str):
            stdin = stdin.encode()
        out, err = io.BytesIO(), io.BytesIO()
        out_text = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
        err_text = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        monkeypatch.setattr(sys, "stdout", out_text)
        monkeypatch.setattr(sys, "stderr", err_text)
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            out_text.flush()
            err_text.flush()
            monkeypatch.undo()
        return CliResult(code, out.getvalue(), err.getvalue().decode("utf-8", "replace"))

    return run


@pytest.fixture(scope="session")
def env(tmp_path_factory) -> Env:
    """A tiny model, a frame store and their embeddings, built once a session."""
    return Env(tmp_path_factory.mktemp("retrieval"))


@pytest.fixture
def index_dir(env, run_cli, tmp_path):
    """An index of the shared test videos (``env.videos``), built for the test."""
    path = tmp_path / "idx"
    result = run_cli("index", env.videos, "--out", path)
    assert result.code == 0, result.stderr
    return path


@pytest.fixture
def small_disk(tmp_path):
    """A directory on a 3 MB tmpfs (a disk that fills up); skipped where mounting is not allowed."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("a small tmpfs needs root to mount")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)

