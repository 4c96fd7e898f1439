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
    from emoret.demo import synthetic

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


def test_a_ctrl_c_swallowed_by_a_finaliser_is_sent_again(tmp_path):
    # Python only prints a KeyboardInterrupt raised in __del__ ("Exception ignored in"):
    # a Ctrl-C landing there let annotate run on to exit 0 (seen once in CI).
    script = tmp_path / "swallowed.py"
    script.write_text(
        "import time\n"
        "from emoret_cli.main import redeliver_swallowed_interrupts\n"
        "redeliver_swallowed_interrupts()\n"
        "class Finaliser:\n"
        "    def __del__(self):\n"
        "        raise KeyboardInterrupt\n"
        "try:\n"
        "    Finaliser()\n"
        "    time.sleep(10)\n"
        "    print('ran on')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    done = subprocess.run([sys.executable, str(script)], env=cli_env(), capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "interrupted", (done.stdout, done.stderr)
    assert "Exception ignored" not in done.stderr
