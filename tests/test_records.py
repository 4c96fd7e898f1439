import json

import pytest

from emoret import records
from emoret.atomic import atomic_path
from emoret.errors import InputError
from emoret.records import JsonlWriter, iter_numbered, iter_records


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_json_array_and_json_lines_give_the_same_records(tmp_path):
    rows = [{"video": f"v{i}.mp4", "caption": f"caption {i}", "n": i} for i in range(5)]
    array = write(tmp_path, "a.json", json.dumps(rows, indent=2).encode())
    lines = write(tmp_path, "a.jsonl", b"\n".join(json.dumps(r).encode() for r in rows) + b"\n")
    assert list(iter_records(array)) == list(iter_records(lines)) == rows


def test_large_json_array_streams_across_chunk_boundaries(tmp_path):
    rows = [{"caption": "x" * (i % 97), "value": i * 1.5, "u": "é☺"} for i in range(20000)]
    path = write(tmp_path, "big.json", json.dumps(rows, ensure_ascii=False).encode())
    assert list(iter_records(path)) == rows


def test_array_line_numbers_point_at_the_object(tmp_path):
    path = write(tmp_path, "a.json", b'[\n {"caption": "a"},\n {"caption": "b"},\n 3\n]')
    numbered = []
    with pytest.raises(InputError) as err:
        for line, _record in iter_numbered(path):
            numbered.append(line)
    assert numbered == [2, 3]
    assert str(err.value) == f"{path}:4: expected a JSON object, got a number"


@pytest.mark.parametrize(
    "data,message",
    [
        (b'{"caption": "a"}\n{"caption": \n', ":2: malformed JSON"),
        (b'{"caption": "a"}\n"text"\n', ":2: expected a JSON object, got a string"),
        (b'{"caption": "a"}\n\xff\xfe{}\n', ":2: not UTF-8 text"),
        (b'[{"caption": "a"},\n {"caption": "b"}', ":2: JSON array is not closed"),
        (b'[{"caption": "a"}\n {"caption": "b"}]', ":2: malformed JSON (expected ',' or ']')"),
        (b'[{"caption": "a"}] {"x": 1}', ":1: unexpected data after the JSON array"),
        (b'[{"caption": "\xff"}]', ":1: not UTF-8 text"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, data, message):
    path = write(tmp_path, "bad.json", data)
    with pytest.raises(InputError) as err:
        list(iter_records(path))
    assert str(err.value).startswith(str(path) + message)


def test_csv_input_is_told_which_formats_are_read(tmp_path, run_cli):
    path = write(tmp_path, "caps.csv", b"video,caption\nclip0.mp4,a happy dog\n")
    with pytest.raises(InputError) as err:
        list(iter_records(path))
    assert str(err.value).startswith(f"{path}:1: malformed JSON")
    assert "JSON array or JSON lines" in str(err.value) and "\n" not in str(err.value)
    result = run_cli("annotate", path)
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [f"emoret: {err.value}"]
    # A bad line further on is a bad line, not a file in another format.
    later = write(tmp_path, "later.jsonl", b'{"caption": "a"}\n{"caption": \n')
    with pytest.raises(InputError) as err:
        list(iter_records(later))
    assert "JSON lines" not in str(err.value)


def test_blank_lines_and_empty_input(tmp_path):
    assert list(iter_records(write(tmp_path, "e.jsonl", b""))) == []
    assert list(iter_records(write(tmp_path, "w.jsonl", b"\n  \n"))) == []
    assert list(iter_records(write(tmp_path, "ea.json", b"[]"))) == []
    assert list(iter_records(write(tmp_path, "b.jsonl", b'\n{"a": 1}\n\n{"a": 2}\n'))) == [{"a": 1}, {"a": 2}]


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(iter_records(tmp_path / "nope.json"))


def test_writer_is_atomic_and_keeps_records_before_bad_input(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with JsonlWriter(target) as writer:
            writer.write({"a": 1})
            raise RuntimeError("crash")
    assert target.read_text() == "old\n"  # a crash leaves the previous file
    with pytest.raises(InputError):
        with JsonlWriter(target) as writer:
            writer.write({"a": 1})
            raise InputError("x", "bad", 3)
    assert target.read_text() == '{"a":1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp files left


def test_video_id_of():
    assert records.video_id_of({"video": "dir/video12.mp4"}) == "video12"
    assert records.video_id_of({"video_id": 7, "video": "x.mp4"}) == "7"
    assert records.video_id_of({}) is None


def test_atomic_files_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    target = tmp_path / "out.jsonl"
    records.write_jsonl_atomic(target, [{"a": 1}])
    assert (target.stat().st_mode & 0o777) == 0o666 & ~mask


def test_atomic_path_publishes_the_usual_mode_even_if_the_writer_recreates_the_file(tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    target = tmp_path / "weights.bin"
    with atomic_path(target) as tmp:
        os.unlink(tmp)
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600)  # as a library writing privately would
        os.close(fd)
    assert (target.stat().st_mode & 0o777) == 0o666 & ~mask


def test_read_captions_checks_every_record_and_names_the_line(tmp_path):
    good = write(tmp_path, "good.jsonl", b'{"caption": "a dog", "video_id": "v1"}\n{"caption": "a cat"}\n')
    assert [r["caption"] for r in records.read_captions(str(good))] == ["a dog", "a cat"]
    bad = write(tmp_path, "bad.jsonl", b'{"caption": "a dog"}\n{"caption": 7}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: field 'caption' must be a string, not 7"):
        records.read_captions(str(bad))


def test_require_video_id_takes_the_id_or_the_video_stem_else_names_the_line():
    assert records.require_video_id({"video": "dir/v3.mp4"}, "c.jsonl", 1) == "v3"
    with pytest.raises(InputError, match=r"c.jsonl:4: record has neither 'video_id' nor 'video'"):
        records.require_video_id({"caption": "x"}, "c.jsonl", 4)
