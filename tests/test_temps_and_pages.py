"""Temp files of killed writers are swept by the next run; pages go straight into devices and FIFOs."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from fault_tools import cli_env, temp_files, through_fifo

HIT = {"query": "a dog", "rank": 1, "score": 0.5, "video_id": "clip0", "path": "/nonexistent/clip0.mp4"}


def _kill_once_a_temp_is_written(args, directory):
    run = subprocess.Popen([sys.executable, "-m", "emoret_cli", *map(str, args)], env=cli_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.poll() is None:
            temps = temp_files(directory)
            if temps and os.path.getsize(temps[0]) > 0:
                break
            time.sleep(0.02)
        assert run.poll() is None, "the command ended before it could be killed"
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(30)
    return temp_files(directory)


@pytest.mark.parametrize("command", [["annotate", "-j", "1"], ["filter", "--all", "-q"]])
def test_a_killed_writers_temp_is_removed_by_the_next_run(run_cli, tmp_path, command):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"video_id": f"v{i}", "caption": "a happy dog runs in the park"}) + "\n"
                              for i in range(100_000)))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    left = _kill_once_a_temp_is_written([*command[:1], source, "-o", out_dir / "o.jsonl", *command[1:]], out_dir)
    assert len(left) == 1 and ".o.jsonl." in left[0], left  # the kill left it: the case to clean up
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"video_id": "v", "caption": "a dog"}) + "\n")
    result = run_cli(command[0], small, "-o", out_dir / "o.jsonl", *command[1:])
    assert result.code == 0, result.stderr
    assert temp_files(out_dir) == []
    assert len((out_dir / "o.jsonl").read_text().splitlines()) == 1


def _hits(tmp_path):
    path = tmp_path / "hits.jsonl"
    path.write_text(json.dumps(HIT) + "\n")
    return path


def test_gallery_into_a_fifo_writes_the_page_to_its_reader(run_cli, tmp_path):
    fifo = tmp_path / "pipe"
    result, page = through_fifo(fifo, lambda: run_cli("gallery", _hits(tmp_path), "-o", fifo))
    assert result.code == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert page is not None and page.startswith(b"<!DOCTYPE html>") and b"</html>" in page


def test_gallery_onto_dev_null_keeps_the_device(run_cli, tmp_path):
    result = run_cli("gallery", _hits(tmp_path), "-o", os.devnull)
    assert result.code == 0, result.stderr
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.parametrize("into", ["pipe", "file"])
def test_gallery_to_dev_stdout_writes_the_page(tmp_path, into):
    args = [sys.executable, "-m", "emoret_cli", "gallery", str(_hits(tmp_path)), "-o", "/dev/stdout"]
    if into == "pipe":
        done = subprocess.run(args, capture_output=True, env=cli_env(), timeout=60)
        page = done.stdout
    else:
        with open(tmp_path / "page.html", "wb") as handle:
            done = subprocess.run(args, stdout=handle, stderr=subprocess.PIPE, env=cli_env(), timeout=60)
        page = (tmp_path / "page.html").read_bytes()
    assert done.returncode == 0, done.stderr
    assert page.startswith(b"<!DOCTYPE html>") and page.rstrip().endswith(b"</html>")


def test_search_html_onto_dev_null(run_cli, env, tmp_path):
    indexed = run_cli("index", env.videos, "--out", tmp_path / "idx")
    assert indexed.code == 0, indexed.stderr
    result = run_cli("search", "a happy dog", "--index", tmp_path / "idx", "--top", "2", "--json",
                     "--html", os.devnull)
    assert result.code == 0, result.stderr
    assert len(result.records) == 2


def test_a_directory_is_swept_once_a_process_not_once_a_file(tmp_path, monkeypatch):
    from emoret import atomic

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".other.npy.{dead.pid}.abcd1234.tmp"
    stale.write_text("x")
    calls = []
    sweep = atomic.sweep_stale_temps
    monkeypatch.setattr(atomic, "sweep_stale_temps", lambda *a: calls.append(a) or sweep(*a))
    for i in range(20):
        atomic.write_bytes_atomic(tmp_path / f"f{i}.bin", b"data")
    assert len(calls) == 1 and not stale.exists()
