"""index under faults: killed writers' leftovers, a full disk, a symlinked --out, Ctrl-C."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from fault_tools import cli_env, fill_disk, temp_files

from emoret import publish
from emoret.embedding.files import save_embeddings
from emoret.index import store


def embeddings(path, rows, dim=16, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    save_embeddings(path, vectors, [{"video_id": f"v{i}"} for i in range(rows)], {"kind": "videos"})
    return path


def index_cmd(*args):
    return [sys.executable, "-m", "emoret_cli", "index", *map(str, args)]


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def staging(parent, name="idx"):
    return list(parent.glob(f".{name}.new-*")) + list(parent.glob(f".{name}.old-*"))


def test_a_killed_index_leaves_staging_that_the_next_run_removes(tmp_path):
    big = embeddings(tmp_path / "big", 40_000, dim=64)
    run = subprocess.Popen(index_cmd(big, "--out", tmp_path / "idx"), env=cli_env(), stderr=subprocess.PIPE)
    assert wait_for(lambda: staging(tmp_path) or run.poll() is not None)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert staging(tmp_path), "the kill came too late to test anything"
    small = embeddings(tmp_path / "small", 5)
    done = subprocess.run(index_cmd(small, "--out", tmp_path / "idx"), env=cli_env(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert staging(tmp_path) == [] and len(store.open_index(tmp_path / "idx")) == 5


def test_ctrl_c_stops_a_build_at_once(tmp_path):
    big = embeddings(tmp_path / "big", 60_000, dim=64)
    run = subprocess.Popen(index_cmd(big, "--out", tmp_path / "idx"), env=cli_env(), stderr=subprocess.PIPE)
    assert wait_for(lambda: staging(tmp_path) or run.poll() is not None)
    time.sleep(0.3)  # into the build proper
    assert run.poll() is None, "the build finished before it could be interrupted"
    start = time.monotonic()
    os.kill(run.pid, signal.SIGINT)
    code = run.wait(30)
    waited = time.monotonic() - start
    assert code == 130 and b"interrupted" in run.stderr.read()
    assert waited < 3.0, f"took {waited:.1f} s to stop"  # a whole build here takes over 10 s
    assert staging(tmp_path) == [] and not (tmp_path / "idx").exists()


def test_out_through_a_symlink_updates_the_target(run_cli, tmp_path):
    first, second = embeddings(tmp_path / "a", 4), embeddings(tmp_path / "b", 6, seed=1)
    assert run_cli("index", first, "--out", tmp_path / "real").code == 0
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = run_cli("index", second, "--out", tmp_path / "link")
    assert result.code == 0, result.stderr
    assert (tmp_path / "link").is_symlink()
    assert len(store.open_index(tmp_path / "real")) == 6
    assert publish.lock_path(tmp_path / "link") == publish.lock_path(tmp_path / "real")  # one lock for both


def _assert_one_line_disk_failure(result):
    assert result.code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("emoret:")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "Traceback" not in result.stderr


def test_full_disk_keeps_the_old_index(run_cli, small_disk, tmp_path):
    assert run_cli("index", embeddings(tmp_path / "a", 10), "--out", small_disk / "idx").code == 0
    before = {p.name: p.read_bytes() for p in (small_disk / "idx").iterdir()}
    fill_disk(small_disk, leave=60_000)
    result = run_cli("index", embeddings(tmp_path / "b", 3000, dim=64), "--out", small_disk / "idx")
    _assert_one_line_disk_failure(result)
    assert {p.name: p.read_bytes() for p in (small_disk / "idx").iterdir()} == before
    assert temp_files(small_disk) == []


def test_injected_enospc_keeps_the_old_index(run_cli, tmp_path, monkeypatch):
    assert run_cli("index", embeddings(tmp_path / "a", 10), "--out", tmp_path / "idx").code == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "idx").iterdir()}

    def full(handle, array):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "vectors.npy")

    monkeypatch.setattr(store, "save_npy", full)
    _assert_one_line_disk_failure(run_cli("index", embeddings(tmp_path / "b", 20), "--out", tmp_path / "idx"))
    assert {p.name: p.read_bytes() for p in (tmp_path / "idx").iterdir()} == before
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("where", ["tmpfs", "injected"])
def test_embed_on_a_full_disk_keeps_the_old_set(run_cli, tmp_path, request, monkeypatch, where):
    env = request.getfixturevalue("env")  # noqa: F811
    if where == "tmpfs":
        out_dir = request.getfixturevalue("small_disk")
    else:
        out_dir = tmp_path
    old = embeddings(out_dir / "t", 3)
    before = {p.name: p.read_bytes() for p in out_dir.glob("t.*")}
    if where == "tmpfs":
        fill_disk(out_dir, leave=0)
    else:
        from emoret.embedding import files as embed

        def full(handle, array):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(embed, "save_npy", full)
    result = run_cli("embed", "--model", env.model_dir, "--texts", env.captions, "--out", old)
    _assert_one_line_disk_failure(result)
    assert {p.name: p.read_bytes() for p in out_dir.glob("t.*")} == before
    assert temp_files(out_dir) == []
