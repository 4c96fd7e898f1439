"""Errors a newcomer met on a first try (issue 18): each is one line naming the real problem."""

from __future__ import annotations

from pathlib import Path

import pytest


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_index_of_a_missing_path_says_it_is_missing(run_cli, tmp_path):
    result = run_cli("index", tmp_path / "nosuch", "--out", tmp_path / "i4")
    assert result.code == 2
    assert one_error_line(result) == f"emoret: {tmp_path / 'nosuch'}: no such file or directory"


def test_index_of_a_file_that_is_no_set_without_model_says_both(run_cli, tmp_path):
    captions = tmp_path / "caps.csv"
    captions.write_text("video_id,caption\n")
    result = run_cli("index", captions, "--out", tmp_path / "i4")
    line = one_error_line(result)
    assert result.code == 2
    assert line.startswith(f"emoret: {captions}: a file, not an embedding set") and "--model" in line


@pytest.mark.parametrize("option", ["--texts", "--videos"])
def test_eval_names_a_file_given_where_an_embedding_set_belongs(run_cli, env, tmp_path, option):
    captions = tmp_path / "caps.csv"
    captions.write_text("video_id,caption\n")
    given = {"--texts": env.texts, "--videos": env.videos, option: captions}
    result = run_cli("eval", "--texts", given["--texts"], "--videos", given["--videos"])
    line = one_error_line(result)
    assert result.code == 2
    assert line.startswith(f"emoret: {captions}: a file, not an embedding set: {option} wants")
    made_by = "'emoret embed --texts'" if option == "--texts" else "'emoret embed'"
    assert made_by in line and ".npy" not in line.split(":")[1]


def test_tsne_names_a_directory_given_where_an_embedding_set_belongs(run_cli, env, tmp_path):
    result = run_cli("tsne", "--videos", env.frames, "-o", tmp_path / "t.png")
    assert result.code == 2
    assert one_error_line(result).startswith(f"emoret: {env.frames}: a directory, not an embedding set: --videos wants")


def test_a_missing_set_names_its_npy_and_what_makes_it(run_cli, env, tmp_path):
    result = run_cli("eval", "--texts", tmp_path / "nosuch", "--videos", env.videos)
    assert result.code == 2
    line = one_error_line(result)
    assert line.startswith(f"emoret: {tmp_path / 'nosuch.npy'}: no such file") and "'emoret embed --texts'" in line


@pytest.mark.parametrize("args, missing", [
    ([], "--model"),
    (["--model", "m", "--captions", "c.jsonl", "--frames", "f"], "--out"),
])
def test_train_words_a_missing_option_as_every_command_does(run_cli, args, missing):
    result = run_cli("train", *args)
    other = run_cli("embed")  # a command whose --model typer itself requires
    assert result.code == other.code == 2
    assert other.stderr.strip().endswith("Error: Missing option '--model' / '-m'.")
    assert result.stderr.startswith("Usage: emoret train [OPTIONS]")
    assert result.stderr.strip().endswith(f"Error: Missing option '{missing}'.")


def test_train_names_the_config_file_that_lacks_a_setting(run_cli, tmp_path):
    config = tmp_path / "c.json"
    config.write_text("{}")
    result = run_cli("train", "--config", config)
    assert result.code == 2 and one_error_line(result) == f"emoret: {config}: missing setting 'model'"


OUT_OF_RANGE = {
    "filter --thr above 1": (["filter", "--thr", "2"], "--thr"),  # |compound| is in [0, 1]
    "filter --thr below 0": (["filter", "--thr", "-0.1"], "--thr"),
    "filter --seed": (["filter", "--balance", "--seed", "-1"], "--seed"),
    "search --top": (["search", "a dog", "--top", "0"], "--top"),
    "search --ef": (["search", "a dog", "--ef", "0"], "--ef"),
    "tsne --seed": (["tsne", "--texts", "t", "--seed", "-1"], "--seed"),
    "train --epochs": (["train", "--epochs", "0"], "--epochs"),
    "train --batch-size": (["train", "--batch-size", "1"], "--batch-size"),  # the loss needs negatives
    "train --warmup": (["train", "--warmup", "1.5"], "--warmup"),
    "train --lr": (["train", "--lr", "-1e-6"], "--lr"),
    "train --num-frames": (["train", "--num-frames", "0"], "--num-frames"),
    "train --threads": (["train", "--threads", "-1"], "--threads"),
}


@pytest.mark.parametrize("args, option", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_an_option_out_of_its_range_is_a_usage_error(run_cli, args, option):
    result = run_cli(*args, stdin="")
    assert result.code == 2 and result.stdout == b""
    assert f"Error: Invalid value for '{option}'" in result.stderr, result.stderr


def test_filter_takes_the_ends_of_the_compound_range(run_cli):
    record = '{"video_id": "v", "caption": "a calm day", "sentiment": {"compound": 1.0}}\n'
    for threshold in ("0", "1"):
        result = run_cli("filter", "--thr", threshold, "--all", "--no-keywords", stdin=record)
        assert result.code == 0, result.stderr
        assert result.records[0]["emotion"] == (1 if threshold == "0" else 0)


def test_tsne_refuses_a_suffix_no_figure_is_written_as_before_any_work(run_cli, env, tmp_path):
    out = tmp_path / "t.txt"
    result = run_cli("tsne", "--texts", env.texts, "-o", out)
    assert result.code == 2 and not out.exists()
    line = one_error_line(result)
    assert line.startswith(f"emoret: {out}: cannot write a figure as .txt") and ".png" in line


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF"), (".jpg", b"\xff\xd8\xff"),
                                           ("", b"\x89PNG")])
def test_the_tsne_figure_is_written_in_the_format_its_suffix_names(tmp_path, suffix, magic):
    import numpy as np

    from emoret.evaluation import plots

    flags = np.zeros((4, 8), bool)
    flags[:2, 0] = True
    out = tmp_path / f"t{suffix}"
    plots.tsne_figure(np.arange(8, dtype=float).reshape(4, 2), ["text"] * 4, flags, ["joy"], out)
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize("command, says", [
    ("annotate", "annotate: reading caption records from stdin (this terminal): end with Ctrl-D"),
    ("filter", "filter: reading records from stdin (this terminal): end with Ctrl-D"),
    ("gallery", "gallery: reading search hits from stdin (this terminal): end with Ctrl-D"),
])
def test_a_command_reading_stdin_from_a_terminal_says_so(command, says):
    """Run with no input in a terminal, the commands that read stdin by default waited silently."""
    import os
    import pty
    import select
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    main_fd, terminal_fd = pty.openpty()
    environ = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "emoret_cli", command], stdin=terminal_fd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ)
    os.close(terminal_fd)
    try:
        said, _, _ = select.select([proc.stderr], [], [], 30)  # said while it waits, before any input
        first = proc.stderr.readline().decode() if said else ""
        os.write(main_fd, b"\x04")  # Ctrl-D: the end of the input
        _, rest = proc.communicate(timeout=60)
    finally:
        os.close(main_fd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first.startswith(says) and first.count("\n") == 1, first
    assert proc.returncode == 0, rest


def test_no_hint_when_stdin_is_not_a_terminal(run_cli):
    result = run_cli("filter", "--quiet", stdin='{"video_id": "v", "caption": "a happy dog"}\n')
    assert result.code == 0 and result.stderr == ""


def test_extract_frames_finishes_the_frames_when_stdout_is_closed_early(tmp_path):
    """`extract-frames DIR -o F | head -n 1` stopped after a few videos, exit 0, no summary."""
    import os
    import subprocess
    import sys

    from emoret.demo import synthetic
    from emoret.video.frames import read_manifest

    count = 30  # more records than stdout's buffer holds, so a write meets the closed pipe mid-run
    paths, _ = synthetic.make_videos(tmp_path / "videos", count, seed=1, width=32, height=32, fps=5,
                                     duration=0.6, workers=1)
    out = tmp_path / "frames"
    environ = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "emoret_cli", "extract-frames", str(tmp_path / "videos"),
                             "-o", str(out), "--num-frames", "2", "--size", "16", "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ)
    proc.stdout.readline()  # the reader takes one line (or none) and goes: `| head -n 1`
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert len(read_manifest(out)) == count and len(list(out.glob("*.npy"))) == count
    summary = stderr.strip().splitlines()[-1]
    assert summary.startswith(f"extract-frames: extracted {count}, up to date 0, failed 0"), stderr
    assert "stdout's reader left early" in summary and "Traceback" not in stderr


def test_train_eta_is_not_thrown_by_the_first_epochs_start_up():
    """The quickstart's first epoch (11 s with start-up) once gave "45m37s left" for a 59 s run."""
    from emoret_cli.train import EpochClock

    now = [0.0]
    clock = EpochClock(250, now=lambda: now[0])
    now[0] = 11.0
    clock.epoch_done(0)
    assert clock.seconds_left() is None and clock.timing().endswith("estimating")
    for epoch in range(1, 4):
        now[0] += 0.19
        clock.epoch_done(epoch)
    truth = 0.19 * (250 - 4)
    assert clock.seconds_left() == pytest.approx(truth)


def test_a_failed_index_run_leaves_no_lock_file(run_cli, env, tmp_path):
    import shutil

    damaged = tmp_path / "videos"
    for suffix in (".npy", ".jsonl", ".meta.json"):
        shutil.copy(f"{env.videos}{suffix}", f"{damaged}{suffix}")
    with open(f"{damaged}.jsonl", "ab") as handle:
        handle.write(b'{"video_id": "extra"}\n')  # no longer the set its meta file describes
    result = run_cli("index", damaged, "--out", tmp_path / "idx")
    assert result.code == 2 and "does not match" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["videos.jsonl", "videos.meta.json", "videos.npy"]


def test_the_lock_of_a_hidden_index_has_one_dot_and_goes_with_its_holder(tmp_path):
    from emoret import publish
    from emoret.index import store

    hidden = tmp_path / ".emoret-index"
    assert publish.lock_path(hidden) == tmp_path / ".emoret-index.lock"  # was ..emoret-index.lock
    assert publish.lock_path(tmp_path / "idx") == tmp_path / ".idx.lock"
    with pytest.raises(RuntimeError):
        with store.writer_lock(hidden):
            assert (tmp_path / ".emoret-index.lock").exists()
            raise RuntimeError("the write failed")
    assert list(tmp_path.iterdir()) == []


def test_writers_exclude_each_other_while_lock_files_come_and_go(tmp_path):
    """The flock-and-unlink race: a waiter that wins the lock of a file its holder has just
    removed must not count as holding it (it would run beside the next writer)."""
    import threading
    import time

    from emoret.index import store

    target, inside, overlaps = tmp_path / "idx", [0], []

    def writer() -> None:
        for _ in range(40):
            with store.writer_lock(target):
                inside[0] += 1
                if inside[0] > 1:
                    overlaps.append(inside[0])
                time.sleep(0.0005)
                inside[0] -= 1

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert overlaps == [] and list(tmp_path.iterdir()) == []


@pytest.fixture
def no_face_model(monkeypatch, tmp_path):
    """An empty emoret cache, HF_HUB_OFFLINE set, and any network fetch a failure."""
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("fetched over the network while HF_HUB_OFFLINE is set")

    monkeypatch.setenv("EMORET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def test_feel_offline_without_a_face_model_names_both_ways_on(run_cli, env, no_face_model):
    result = run_cli("feel", "--model", env.model_dir, "--frames", env.frames)
    assert result.code == 2 and result.stdout == b""
    line = one_error_line(result)
    assert "HF_HUB_OFFLINE is set" in line and "--face-model PATH" in line and "--no-faces" in line


def test_feel_reading_only_faces_does_not_suggest_turning_them_off(run_cli, env, no_face_model):
    result = run_cli("feel", "--frames", env.frames, "--no-scene")
    line = one_error_line(result)
    assert result.code == 2 and "--face-model PATH" in line and "--no-faces" not in line


def test_feel_with_a_missing_face_model_file_names_no_faces(run_cli, env, tmp_path):
    result = run_cli("feel", "--model", env.model_dir, "--frames", env.frames, "--face-model", tmp_path / "x.onnx")
    line = one_error_line(result)
    assert result.code == 2 and line.startswith(f"emoret: {tmp_path / 'x.onnx'}: no such face model file")
    assert line.endswith("or pass --no-faces to read the scene only")


def test_a_set_short_of_its_npy_is_named_by_the_missing_file(run_cli, env, tmp_path):
    import shutil

    shutil.copy(f"{env.texts}.jsonl", tmp_path / "half.jsonl")
    result = run_cli("eval", "--texts", tmp_path / "half.jsonl", "--videos", env.videos)
    assert result.code == 2
    assert one_error_line(result).startswith(f"emoret: {tmp_path / 'half.npy'}: no such file")
