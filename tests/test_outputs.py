"""Where ``-o`` writes: files atomically, through symlinks, straight into devices and FIFOs;
and what a full disk or an overlong name leaves behind."""

import errno
import json
import os
import stat
import subprocess
import sys

import pytest
from fault_tools import fill_disk, temp_files, through_fifo

from emoret.atomic import atomic_path, resolve_output, sweep_stale_temps
from emoret.records import write_jsonl_atomic

CAPTIONS = [{"video_id": f"v{i}", "caption": "a happy dog plays in the sun"} for i in range(5)]


def captions_file(tmp_path):
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(CAPTIONS))
    return path


def test_output_onto_dev_null_keeps_the_device(run_cli, tmp_path):
    result = run_cli("annotate", captions_file(tmp_path), "-o", os.devnull)
    assert result.code == 0, result.stderr
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_output_through_a_symlink_replaces_its_target(run_cli, tmp_path):
    target = tmp_path / "real.jsonl"
    target.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    result = run_cli("annotate", captions_file(tmp_path), "-o", link)
    assert result.code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert len(target.read_text().splitlines()) == len(CAPTIONS)


def test_output_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "made.jsonl")
    write_jsonl_atomic(link, [{"a": 1}])
    assert link.is_symlink() and (tmp_path / "made.jsonl").read_text() == '{"a":1}\n'


def test_output_into_a_fifo_writes_to_its_reader(run_cli, tmp_path):
    fifo = tmp_path / "pipe"
    result, received = through_fifo(fifo, lambda: run_cli("annotate", captions_file(tmp_path), "-o", fifo))
    assert result.code == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received is not None and len(received.splitlines()) == len(CAPTIONS)


def test_output_to_dev_stdout_onto_a_file_keeps_the_file(tmp_path):
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    with open(out, "wb") as handle:
        done = subprocess.run([sys.executable, "-m", "emoret_cli", "annotate", str(captions_file(tmp_path)),
                               "-o", "/dev/stdout"], stdout=handle, stderr=subprocess.PIPE, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == len(CAPTIONS)


def test_output_onto_a_directory_is_one_line(run_cli, tmp_path):
    result = run_cli("annotate", captions_file(tmp_path), "-o", tmp_path)
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0 and "is a directory" in result.stderr


def test_regular_file_is_still_replaced_atomically(tmp_path):
    out = tmp_path / "x.jsonl"
    out.write_text("old\n")
    inode = out.stat().st_ino
    write_jsonl_atomic(out, [{"a": 1}])
    assert out.stat().st_ino != inode and out.read_text() == '{"a":1}\n'
    assert resolve_output(out).direct is False


def test_a_251_character_name_gets_a_temp_name_that_fits(run_cli, tmp_path):
    out = tmp_path / ("n" * 245 + ".jsonl")
    result = run_cli("annotate", captions_file(tmp_path), "-o", out)
    assert result.code == 0, result.stderr
    assert len(out.read_text().splitlines()) == len(CAPTIONS)
    with atomic_path(tmp_path / ("é" * 125 + ".x")) as tmp:  # 250 bytes of two-byte characters
        assert len(os.fsencode(os.path.basename(tmp))) <= 255
        open(tmp, "wb").close()


def test_stale_temps_of_dead_writers_are_swept_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.jsonl.{dead.pid}.abcd1234.tmp"
    live = tmp_path / f".out.jsonl.{os.getpid()}.abcd1234.tmp"
    other = tmp_path / "keep.tmp"
    for path in (stale, live, other):
        path.write_text("x")
    assert sweep_stale_temps(tmp_path, "out.jsonl") == 1
    assert not stale.exists() and live.exists() and other.exists()


# --- a full disk -------------------------------------------------------------------------


def _one_line_failure(result):
    assert result.code == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["annotate", "filter"])
def test_full_disk_keeps_the_old_output_and_no_temp(run_cli, small_disk, tmp_path, command):
    big = [{"video_id": f"v{i}", "caption": "a happy dog plays in the sun " * 20} for i in range(3000)]
    source = tmp_path / "big.json"
    source.write_text(json.dumps(big))
    out = small_disk / "out.jsonl"
    out.write_text("old output\n")
    fill_disk(small_disk, leave=200_000)
    args = [command, source, "-o", out] + (["--all", "-q"] if command == "filter" else [])
    result = run_cli(*args)
    _one_line_failure(result)
    assert out.read_text() == "old output\n"
    assert temp_files(small_disk) == []


def test_injected_enospc_keeps_the_old_output_and_no_temp(run_cli, tmp_path, monkeypatch):
    out = tmp_path / "out.jsonl"
    out.write_text("old output\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = run_cli("annotate", captions_file(tmp_path), "-o", out)
    _one_line_failure(result)
    assert out.read_text() == "old output\n"
    assert temp_files(tmp_path) == []


def test_stdout_onto_dev_full_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "emoret_cli", "filter", "--all", "-q", str(captions_file(tmp_path))],
                              stdout=full, stderr=subprocess.PIPE, env=env, timeout=60)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert stderr.strip().splitlines() == ["emoret: <stdout>: No space left on device"], stderr
