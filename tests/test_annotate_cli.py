import json
import subprocess
import sys

import pytest

from emoret.text import emotions

CAPTIONS = [
    {"video": "video1.mp4", "caption": "a young girl in a horror movie is haunted", "sen_id": 1},
    {"video": "video1.mp4", "caption": "a fearful animation scene", "sen_id": 2},
    {"video": "video2.mp4", "caption": "people enjoy the performance of singer", "duration": 3.5},
    {"video_id": "video3", "caption": "a heart is shown"},
]


def jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_annotate_json_array_file(run_cli, tmp_path):
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(CAPTIONS))
    result = run_cli("annotate", path)
    assert result.code == 0, result.stderr
    rows = result.records
    assert len(rows) == 4
    for row, original in zip(rows, CAPTIONS, strict=True):
        assert {k: row[k] for k in original} == original  # other fields pass through
        assert set(row["sentiment"]) == {"neg", "neu", "pos", "compound"}
        assert all(isinstance(row[key], int) for key in emotions.NRC_KEYS)
    assert rows[0]["fear"] == 2 and rows[0]["negative"] == 2 and rows[0]["neutral"] == 0
    assert rows[3]["neutral"] == 1
    assert rows[0]["sentiment"]["compound"] == pytest.approx(-0.7783)


def test_annotate_stdin_json_lines_equals_file(run_cli, tmp_path):
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(CAPTIONS))
    from_file = run_cli("annotate", path)
    from_stdin = run_cli("annotate", stdin=jsonl(CAPTIONS))
    from_dash = run_cli("annotate", "-", stdin=jsonl(CAPTIONS))
    assert from_file.stdout == from_stdin.stdout == from_dash.stdout
    assert from_stdin.stderr == ""


def test_annotate_output_file_is_written_whole(run_cli, tmp_path):
    out = tmp_path / "sub" / "annotated.jsonl"
    result = run_cli("annotate", "-o", out, stdin=jsonl(CAPTIONS))
    assert result.code == 0 and result.stdout == b""
    assert len(out.read_text().splitlines()) == 4
    assert sorted(p.name for p in out.parent.iterdir()) == ["annotated.jsonl"]


def test_by_video_merges_captions(run_cli):
    rows = run_cli("annotate", "--by-video", stdin=jsonl(CAPTIONS)).records
    assert [r["video_id"] for r in rows] == ["video1", "video2", "video3"]
    assert rows[0]["caption"] == "a young girl in a horror movie is haunted. a fearful animation scene"
    assert rows[0]["n_captions"] == 2 and "sen_id" not in rows[0]
    assert rows[0]["fear"] == 3  # counted over the merged text
    assert rows[1]["duration"] == 3.5


def test_workers_keep_input_order(run_cli, tmp_path):
    # Enough records to go through the process pool (several chunks).
    words = ["happy", "sad", "angry", "calm", "fearful", "lovely", "dog", "car"]
    rows = [{"video_id": f"v{i}", "caption": f"a {words[i % 8]} {words[(i // 8) % 8]} number {i}"} for i in range(1500)]
    path = tmp_path / "many.jsonl"
    path.write_text(jsonl(rows))
    parallel = run_cli("annotate", path, "--workers", "2")
    serial = run_cli("annotate", path, "--workers", "1")
    assert parallel.code == serial.code == 0
    assert parallel.stdout == serial.stdout
    assert [r["video_id"] for r in parallel.records] == [r["video_id"] for r in rows]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_capitalised_words_count_only_with_lowercase(run_cli, workers):
    # Enough records for the process pool with 2 workers: the option must reach the workers.
    rows = [{"video_id": f"v{i}", "caption": "Baby goes to the Top" if i % 2 else "baby goes to the top"}
            for i in range(600)]
    default = run_cli("annotate", "--workers", workers, stdin=jsonl(rows))
    lowered = run_cli("annotate", "--workers", workers, "--lowercase", stdin=jsonl(rows))
    assert default.code == lowered.code == 0
    as_written = [(r["joy"], r["trust"], r["anticipation"], r["positive"], r["neutral"]) for r in default.records]
    assert as_written[0] == (1, 1, 1, 2, 0) and as_written[1] == (0, 0, 0, 0, 1)
    assert as_written == [as_written[0], as_written[1]] * 300
    assert all((r["joy"], r["positive"], r["neutral"]) == (1, 2, 0) for r in lowered.records)


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(
    "tail,message",
    [
        ('{"caption": "broken"\n', "<stdin>:601: malformed JSON"),
        ("[1, 2]\n", "<stdin>:601: expected a JSON object, got an array"),
        ('{"video": "x.mp4"}\n', "<stdin>:601: record has no 'caption'"),
        ('{"caption": 5}\n', "<stdin>:601: field 'caption' must be a string, not 5"),
    ],
)
def test_bad_input_keeps_what_came_before(run_cli, workers, tail, message):
    good = jsonl([{"caption": f"a happy dog {i}"} for i in range(600)])
    result = run_cli("annotate", "--workers", workers, stdin=good + tail + jsonl(CAPTIONS))
    assert result.code == 2
    assert result.stderr.strip() == f"emoret: {message}" or result.stderr.startswith(f"emoret: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert len(result.records) == 600


def test_non_utf8_bytes(run_cli):
    result = run_cli("annotate", stdin=b'{"caption": "ok"}\n{"caption": "caf\xe9"}\n')
    assert result.code == 2
    assert result.stderr.startswith("emoret: <stdin>:2: not UTF-8 text")
    assert len(result.records) == 1


def test_missing_file_and_empty_input(run_cli, tmp_path):
    missing = run_cli("annotate", tmp_path / "nope.json")
    assert missing.code == 2 and missing.stderr.strip() == f"emoret: {tmp_path / 'nope.json'}: no such file"
    empty = run_cli("annotate", stdin=b"")
    assert empty.code == 0 and empty.stdout == b"" and empty.stderr == ""


@pytest.mark.slow
def test_head_ends_quietly(tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text(jsonl([{"caption": f"a happy dog number {i}"} for i in range(3000)]))
    cmd = f"{sys.executable} -m emoret_cli annotate {path} | head -1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert json.loads(proc.stdout)["caption"] == "a happy dog number 0"


def test_help_and_version(run_cli):
    from importlib.metadata import version

    installed = version("emoret")  # what pip recorded from pyproject.toml, not the code's own constant
    assert installed[0].isdigit() and run_cli("--version").stdout.decode().strip() == f"emoret {installed}"
    top = run_cli("--help")
    assert top.code == 0 and b"annotate" in top.stdout and b"filter" in top.stdout
    sub = run_cli("annotate", "--help")
    assert sub.code == 0 and b"Example: emoret annotate" in sub.stdout
