"""Hostile records and names: one line, exit 2, never a traceback; odd file names kept whole."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from fault_tools import cli_env
from retrieval_data import env  # noqa: F401

from emoret.errors import InputError
from emoret.records import MAX_CAPTION_CHARS, iter_records, read_jsonl


def one_line(result, code=2):
    assert result.code == code, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("command", [["annotate"], ["filter", "-q"], ["embed", "--out", "OUT", "--texts"]])
def test_json_nested_3000_deep_is_one_line(run_cli, env, tmp_path, command):  # noqa: F811
    path = tmp_path / "deep.json"
    path.write_text('[{"caption": "a dog", "video_id": "v", "x": ' + "[" * 3000 + "]" * 3000 + "}]")
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    if args[0] == "embed":
        args = ["embed", "--model", str(env.model_dir), *args[1:]]
    result = run_cli(*args, path)
    one_line(result)
    assert "deep.json:1" in result.stderr and "nested too deeply" in result.stderr


def test_nan_is_refused_in_json_arrays_as_in_json_lines(tmp_path):
    array, lines = tmp_path / "a.json", tmp_path / "l.jsonl"
    array.write_text('[{"caption": "x", "score": NaN}]')
    lines.write_text('{"caption": "x", "score": NaN}\n')
    for path in (array, lines):
        with pytest.raises(InputError, match="malformed JSON"):
            list(iter_records(path))
    (tmp_path / "i.json").write_text('[{"caption": "x", "score": -Infinity}]')
    with pytest.raises(InputError):
        list(iter_records(tmp_path / "i.json"))


def test_a_huge_caption_is_refused_at_once(run_cli, tmp_path):
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"video_id": "v", "caption": "happy " * 2_000_000}) + "\n")
    started = time.monotonic()
    result = run_cli("annotate", path)
    one_line(result)
    assert f"{MAX_CAPTION_CHARS:,}" in result.stderr and "huge.jsonl:1" in result.stderr
    assert time.monotonic() - started < 20
    fine = tmp_path / "fine.jsonl"
    fine.write_text(json.dumps({"video_id": "v", "caption": "happy " * (MAX_CAPTION_CHARS // 7)}) + "\n")
    assert run_cli("annotate", fine).code == 0


@pytest.mark.parametrize("field", ["video", "video_id"])
@pytest.mark.parametrize("name", ["bad\x00name", "x" * 300])
def test_hostile_names_in_from_records_are_one_line(run_cli, tmp_path, field, name):
    path = tmp_path / "from.jsonl"
    path.write_text(json.dumps({field: name + (".mp4" if field == "video" else ""), "caption": "c"}) + "\n")
    result = run_cli("extract-frames", "--from", path, "--out", tmp_path / "frames")
    one_line(result)
    assert "from.jsonl:1" in result.stderr


@pytest.mark.parametrize("name", ["bad\x00name", "x" * 300])
def test_hostile_ids_in_train_captions_are_one_line(run_cli, env, tmp_path, name):  # noqa: F811
    path = tmp_path / "captions.jsonl"
    path.write_text(json.dumps({"video_id": "clip0", "caption": "a dog"}) + "\n"
                    + json.dumps({"video_id": name, "caption": "a cat"}) + "\n")
    result = run_cli("train", "--model", env.base, "--captions", path, "--frames", env.frames,
                     "--out", tmp_path / "run", "--epochs", "1", "--threads", "1")
    one_line(result)
    assert "captions.jsonl:2" in result.stderr


def test_non_utf8_video_names_survive_embed_and_index(run_cli, env, tmp_path):  # noqa: F811
    from emoret.video import synthetic

    videos = tmp_path / "videos"
    synthetic.make_videos(videos, 2, seed=2, width=64, height=48, fps=10, duration=1.0, workers=1)
    odd = os.fsencode(videos) + b"/caf\xe9.mp4"
    os.rename(videos / "synth001.mp4", odd)
    embedded = run_cli("embed", "--model", env.model_dir, videos, "--out", tmp_path / "v")
    assert embedded.code == 0, embedded.stderr
    paths = [os.fsencode(r["path"]) for r in read_jsonl(tmp_path / "v.jsonl")]
    assert odd in paths
    indexed = run_cli("index", "--model", env.model_dir, videos, "--out", tmp_path / "idx")
    assert indexed.code == 0, indexed.stderr
    again = run_cli("index", "--model", env.model_dir, videos, "--out", tmp_path / "idx")
    assert again.code == 0 and "up to date" in again.stderr  # its own items read back, name intact


def test_ctrl_c_in_a_parallel_annotate_is_one_line(tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"video_id": f"v{i}", "caption": "a happy dog runs in the park today"}) + "\n"
                            for i in range(200_000)))
    run = subprocess.Popen([sys.executable, "-m", "emoret_cli", "annotate", str(path), "-j", "2"], env=cli_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    from fault_tools import children

    deadline = time.monotonic() + 60
    while len(children(run.pid)) < 2 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.poll() is None, "annotate finished before it could be interrupted"
    time.sleep(0.5)
    os.killpg(run.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    run.wait(30)
    stderr = run.stderr.read().decode()
    assert run.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["emoret: interrupted"], stderr
