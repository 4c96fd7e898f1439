"""Readers of a frame store refuse a file its manifest record does not describe; one writer a store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from fault_tools import cli_env

from emoret.demo.long import make_long_videos
from emoret.demo.scenes import make_scenes
from emoret.video import frames as store

LONG_A = ["-n", "2", "--size", "16", "--segment", "3", "-j", "1"]
LONG_B = ["-n", "4", "--size", "16", "--segment", "2", "-j", "1"]


@pytest.fixture(scope="module")
def long_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    scenes = make_scenes(4, seed=3)
    make_long_videos(root / "long", scenes, clips_per_video=3, seed=3, width=64, height=48, fps=8, workers=1)
    return root / "long"


@pytest.fixture
def stale_store(run_cli, long_videos, tmp_path):
    """The issue's store: `-n 2 --segment 3`, then a `-n 4 --segment 2` run killed after its first
    .npy was rewritten (its file in place, the manifest still the first run's)."""
    out, other = tmp_path / "fr", tmp_path / "other"
    assert run_cli("extract-frames", long_videos, "-o", out, *LONG_A).code == 0
    assert run_cli("extract-frames", long_videos, "-o", other, *LONG_B).code == 0
    shutil.copy2(other / "long000.npy", out / "long000.npy")
    return out


def _refused(result, path) -> None:
    assert result.code == 2, (result.code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(path) in lines[0] and "re-run emoret extract-frames" in lines[0], lines[0]


def test_embed_and_feel_refuse_frames_a_killed_run_rewrote(run_cli, env, stale_store, tmp_path):
    stale = stale_store / "long000.npy"
    _refused(run_cli("embed", "--model", env.model_dir, "--frames", stale_store, "--out", tmp_path / "emb"), stale)
    assert not (tmp_path / "emb.npy").exists()
    _refused(run_cli("feel", "--model", env.model_dir, "--frames", stale_store, "--no-faces",
                     "-o", tmp_path / "feel.jsonl"), stale)
    assert not (tmp_path / "feel.jsonl").exists()


def test_eval_train_and_gallery_refuse_them_too(run_cli, env, stale_store, tmp_path):
    stale = stale_store / "long000.npy"
    captions = tmp_path / "captions.jsonl"
    captions.write_text("".join(json.dumps({"video_id": v, "caption": f"a video {v}"}) + "\n"
                                for v in ("long000", "long001")))
    _refused(run_cli("eval", "--model", env.model_dir, "--captions", captions, "--frames", stale_store), stale)
    _refused(run_cli("train", "--model", env.base, "--captions", captions, "--frames", stale_store,
                     "--out", tmp_path / "model", "--epochs", "1", "--threads", "1"), stale)
    assert not (tmp_path / "model").exists()
    hit = {"video_id": "long000", "path": "long000.mp4", "start": 3.0, "end": 6.0, "score": 0.5, "rank": 1}
    _refused(run_cli("gallery", "--frames", stale_store, "-o", tmp_path / "page.html", stdin=json.dumps(hit) + "\n"),
             stale)


def test_a_file_of_the_right_shape_written_after_its_record_is_refused(run_cli, env, long_videos, tmp_path):
    out = tmp_path / "fr"
    assert run_cli("extract-frames", long_videos, "-o", out, *LONG_A).code == 0
    shape = np.load(out / "long001.npy").shape
    np.save(out / "long001.npy", np.zeros(shape, np.uint8))  # same shape and header: only size/mtime tell
    _refused(run_cli("embed", "--model", env.model_dir, "--frames", out, "--out", tmp_path / "emb"), out / "long001.npy")


def test_the_frames_read_are_the_ones_checked(long_videos, run_cli, tmp_path):
    out = tmp_path / "fr"
    assert run_cli("extract-frames", long_videos, "-o", out, *LONG_A).code == 0
    record = {r["video_id"]: r for r in store.read_manifest(out)}["long000"]
    assert store.load_frames(out, "long000", (2, 4), record=record).shape == (2, 16, 16, 3)
    (out / "long000.npy").write_bytes((out / "long000.npy").read_bytes()[:-100])  # cut short
    with pytest.raises(store.FramesMismatch):
        store.load_frames(out, "long000", (2, 4), record=record)


def test_a_second_writer_fails_with_no_wait_or_waits(run_cli, long_videos, tmp_path):
    out = tmp_path / "fr"
    with store.writer_lock(out):
        result = run_cli("extract-frames", long_videos, "-o", out, *LONG_A, "--no-wait")
        assert result.code == 1 and "another 'emoret extract-frames'" in result.stderr, result.stderr
        assert not (out / "manifest.jsonl").exists()
        waiting = subprocess.Popen([sys.executable, "-m", "emoret_cli", "extract-frames", str(long_videos), "-o",
                                    str(out), *LONG_A], env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(3)
        assert waiting.poll() is None, waiting.stderr.read() if waiting.stderr else ""
        assert not (out / "manifest.jsonl").exists()
    assert waiting.wait(60) == 0
    assert b"waiting for another run" in (waiting.stderr.read() if waiting.stderr else b"")
    assert {r["video_id"] for r in store.read_manifest(out)} == {"long000", "long001"}


def test_a_damaged_npy_header_is_refused_in_one_line(run_cli, env, long_videos, tmp_path):
    out = tmp_path / "fr"
    assert run_cli("extract-frames", long_videos, "-o", out, *LONG_A).code == 0
    raw = (out / "long001.npy").read_bytes()
    assert b"), }" in raw[:128]
    (out / "long001.npy").write_bytes(raw.replace(b"), }", b"),  ", 1))
    _refused(run_cli("embed", "--model", env.model_dir, "--frames", out, "--out", tmp_path / "emb"), out / "long001.npy")
