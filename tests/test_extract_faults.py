"""extract-frames under faults: stale frame files, a full disk, a killed parent, odd names."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from fault_tools import children, cli_env, fill_disk, leaked_after, temp_files

from emoret.demo import synthetic
from emoret.records import read_jsonl

SMALL = ["--num-frames", "4", "--size", "16", "--workers", "1"]


@pytest.fixture(scope="module")
def video_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    synthetic.make_videos(root / "videos", 4, seed=3, width=64, height=48, fps=10, duration=1.0, workers=1)
    return root / "videos"


@pytest.fixture
def videos(tmp_path, video_set):
    target = tmp_path / "videos"
    shutil.copytree(video_set, target)
    return target


def manifest(out):
    return read_jsonl(out / "manifest.jsonl")


def test_frames_written_by_a_killed_run_are_not_reused(run_cli, videos, tmp_path):
    out, other = tmp_path / "frames", tmp_path / "other"
    assert run_cli("extract-frames", videos, "--out", out, *SMALL).code == 0
    assert run_cli("extract-frames", videos, "--out", other, "--num-frames", "6", "--size", "24", "-j", "1").code == 0
    # A `--force` run with other settings killed before its manifest: new files, old records.
    shutil.copy(other / "synth000.npy", out / "synth000.npy")
    # Same shape, but written after the record: not the file the record describes.
    np.save(out / "synth001.npy", np.zeros((4, 16, 16, 3), np.uint8))
    result = run_cli("extract-frames", videos, "--out", out, *SMALL)
    assert result.code == 0, result.stderr
    for record in manifest(out):
        frames = np.load(out / f"{record['video_id']}.npy")
        assert frames.shape == (record["n_frames"], 16, 16, 3) == (4, 16, 16, 3)
        assert frames.any(), f"{record['video_id']}: the zeroed file was kept"


def _old_store(run_cli, videos, out):
    assert run_cli("extract-frames", videos, "--out", out, *SMALL).code == 0
    return {path.name: path.read_bytes() for path in out.iterdir()}


def _assert_unchanged(out, before):
    after = {path.name: path.read_bytes() for path in out.iterdir() if path.name != "ballast"}
    assert after == before
    assert temp_files(out) == []


def test_full_disk_keeps_the_old_frames(run_cli, videos, small_disk):
    out = small_disk / "frames"
    before = _old_store(run_cli, videos, out)
    fill_disk(small_disk, leave=20_000)
    result = run_cli("extract-frames", videos, "--out", out, "--num-frames", "8", "--size", "64", "-j", "1", "--force")
    assert result.code == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in result.stderr
    (small_disk / "ballast").unlink()
    _assert_unchanged(out, before)


def test_injected_enospc_keeps_the_old_frames(run_cli, videos, tmp_path, monkeypatch):
    from emoret.video import frames as store

    out = tmp_path / "frames"
    before = _old_store(run_cli, videos, out)
    real_save = store.save_npy

    def save(handle, array):
        real_save(handle, array[:1])  # part of the file, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store, "save_npy", save)
    result = run_cli("extract-frames", videos, "--out", out, "--num-frames", "8", "--size", "32", "-j", "1", "--force")
    monkeypatch.undo()
    assert result.code == 1 and "No space left on device" in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    _assert_unchanged(out, before)


def test_workers_die_with_a_killed_parent(tmp_path):
    videos = tmp_path / "videos"
    synthetic.make_videos(videos, 2, seed=1, width=160, height=120, fps=25, duration=20.0, workers=1)
    run = subprocess.Popen([sys.executable, "-m", "emoret_cli", "extract-frames", str(videos), "--out",
                            str(tmp_path / "frames"), "--fps", "25", "--size", "16", "-j", "2"],
                           env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and run.poll() is None and time.monotonic() < deadline:
        workers = children(run.pid)
        time.sleep(0.01)
    assert len(workers) == 2, "the workers never started (or finished first)"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert leaked_after(workers, 10) == []
    assert temp_files(tmp_path / "frames") == []


def test_a_killed_run_leaves_temps_that_the_next_run_removes(run_cli, videos, tmp_path):
    out = tmp_path / "frames"
    assert run_cli("extract-frames", videos, "--out", out, *SMALL).code == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = out / f".synth000.npy.{dead.pid}.abcd1234.tmp"
    leftover.write_bytes(b"half a file")
    assert run_cli("extract-frames", videos, "--out", out, *SMALL).code == 0
    assert temp_files(out) == []


def test_a_non_utf8_file_name_is_recorded_without_loss(run_cli, videos, tmp_path):
    odd = os.fsencode(videos) + b"/caf\xe9.mp4"
    os.rename(videos / "synth003.mp4", odd)
    out = tmp_path / "frames"
    result = run_cli("extract-frames", videos, "--out", out, *SMALL)
    assert result.code == 0, result.stderr
    records = manifest(out)
    assert len(records) == 4 and "error" not in str(records)
    named = [r for r in records if r["video_id"].startswith("caf")][0]
    assert os.fsencode(named["source"]) == odd
    assert os.path.exists(os.fsencode(out) + b"/caf\xe9.npy")
    again = run_cli("extract-frames", videos, "--out", out, *SMALL)  # reads its own manifest back
    assert again.code == 0 and again.stdout == result.stdout
