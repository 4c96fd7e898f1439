"""train under faults: a full disk while checkpointing, a torn metrics.jsonl tail."""

from __future__ import annotations

import errno
import os

import pytest
from fault_tools import fill_disk, temp_files
from safetensors.torch import load_file
from test_train import write_dataset

from emoret.records import read_jsonl


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("train-fault-data"))


def train_args(data, out, *more):
    return ["train", "--model", data["base"], "--captions", data["captions"], "--frames", data["frames"],
            "--out", out, "--num-frames", "4", "--batch-size", "4", "--threads", "1", *more]


def checkpoint_state(out):
    last = out / "last"
    return os.readlink(last), load_file(str(last / "model.safetensors"))


def assert_disk_failure(result):
    assert result.code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("emoret:")]
    assert len(errors) == 1 and "No space left on device" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def assert_same_checkpoint(out, before):
    link, weights = checkpoint_state(out)
    assert link == before[0]
    assert all((weights[k] == before[1][k]).all() for k in before[1])
    assert temp_files(out) == [] and not list((out / "checkpoints").glob(".*"))


def test_full_disk_keeps_the_last_checkpoint(run_cli, data, small_disk):
    out = small_disk / "run"
    assert run_cli(*train_args(data, out, "--epochs", "1")).code == 0
    before = checkpoint_state(out)
    fill_disk(small_disk, leave=30_000)
    assert_disk_failure(run_cli(*train_args(data, out, "--epochs", "3", "--resume")))
    assert_same_checkpoint(out, before)


def test_injected_enospc_keeps_the_last_checkpoint(run_cli, data, tmp_path, monkeypatch):
    import torch

    out = tmp_path / "run"
    assert run_cli(*train_args(data, out, "--epochs", "1")).code == 0
    before = checkpoint_state(out)

    def full(obj, handle, *args, **kwargs):
        handle.write(b"part of a state")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full)
    assert_disk_failure(run_cli(*train_args(data, out, "--epochs", "3", "--resume")))
    monkeypatch.undo()
    assert_same_checkpoint(out, before)


def test_a_torn_metrics_tail_does_not_block_resume(run_cli, data, tmp_path):
    out = tmp_path / "run"
    assert run_cli(*train_args(data, out, "--epochs", "1")).code == 0
    metrics = out / "metrics.jsonl"
    whole = metrics.read_bytes()
    metrics.write_bytes(whole + b'{"step": 99, "loss": 0.1')  # a kill in the middle of a line
    result = run_cli(*train_args(data, out, "--epochs", "2", "--resume"))
    assert result.code == 0, result.stderr
    records = read_jsonl(metrics)
    assert all(r.get("step") != 99 for r in records) and len(records) > whole.count(b"\n")


def test_a_bad_line_inside_metrics_is_still_an_error(run_cli, data, tmp_path):
    out = tmp_path / "run"
    assert run_cli(*train_args(data, out, "--epochs", "1")).code == 0
    metrics = out / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines(keepends=True)
    metrics.write_bytes(b"".join(lines[:1] + [b"{broken\n"] + lines[1:]))
    result = run_cli(*train_args(data, out, "--epochs", "2", "--resume"))
    assert result.code == 2 and "metrics.jsonl:2" in result.stderr


def test_a_second_train_on_one_out_is_refused_while_the_first_runs(run_cli, data, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from fault_tools import cli_env

    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "emoret_cli", *map(str, train_args(data, out, "--epochs", "500"))],
                             env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "metrics.jsonl").exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, first.stderr.read().decode()
        second = run_cli(*train_args(data, out, "--epochs", "1", "--resume"))
        assert second.code == 2, second.stderr
        assert second.stderr.count("\n") == 1 and "another 'emoret train'" in second.stderr, second.stderr
        assert first.poll() is None  # the first run goes on, alone
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    steps = [r["step"] for r in read_jsonl(out / "metrics.jsonl") if "loss" in r and "train_loss" not in r]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # one writer's log
    again = run_cli(*train_args(data, out, "--epochs", "1", "--resume"))  # a killed holder's lock is gone
    assert "another 'emoret train'" not in again.stderr, again.stderr
    assert not (tmp_path / ".run.lock").exists()  # the lock file goes with its holder


class _Payload:
    """Unpickled, it would make a directory: proof that code in a train state ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_resume_over_a_malicious_train_state_runs_nothing_and_is_one_line(run_cli, data, tmp_path):
    import torch

    out = tmp_path / "run"
    assert run_cli(*train_args(data, out, "--epochs", "1")).code == 0
    marker = tmp_path / "pwned"
    torch.save({"step": 1, "payload": _Payload(marker)}, out / "last" / "train_state.pt")
    result = run_cli(*train_args(data, out, "--epochs", "2", "--resume"))
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "train_state.pt: holds Python objects beyond tensors" in result.stderr
    assert "weights_only" not in result.stderr and "will likely succeed" not in result.stderr
    assert not marker.exists()


def test_resume_over_a_train_state_of_the_wrong_shape_is_one_line(run_cli, data, tmp_path):
    import torch

    out = tmp_path / "run"
    assert run_cli(*train_args(data, out, "--epochs", "1")).code == 0
    torch.save({"step": torch.ones(1)}, out / "last" / "train_state.pt")
    result = run_cli(*train_args(data, out, "--epochs", "2", "--resume"))
    assert result.code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "train_state.pt: not a train state" in result.stderr
