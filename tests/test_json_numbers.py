"""One JSON policy for arrays and lines: a number a double cannot hold is bad input, in one line."""

from __future__ import annotations

import pytest

from emoret.errors import InputError
from emoret.records import iter_records

RECORD = '{"caption": "a happy dog", "video": "a.mp4", "score": 0.5, "sentiment": {"compound": NUMBER}}'


def one_line(result, where):
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert where in result.stderr, result.stderr


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" * 400, "1" * 5000 + ".5"])
@pytest.mark.parametrize("layout", ["array", "lines", "escaped lines"])
def test_numbers_beyond_a_double_are_refused_in_every_layout(tmp_path, number, layout):
    record = RECORD.replace("NUMBER", number)
    if layout == "escaped lines":  # read by the json module (a non-UTF-8 name's escapes), not orjson
        record = record.replace('"a.mp4"', '"caf\\udce9.mp4"')
    text = f"[\n{record}\n]" if layout == "array" else f"{record}\n"
    path = tmp_path / "in.json"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        list(iter_records(path))
    assert caught.value.line == (2 if layout == "array" else 1)


@pytest.mark.parametrize("layout", ["array", "lines"])
def test_integers_beyond_64_bits_read_as_floats_in_both_layouts(tmp_path, layout):
    record = '{"caption": "a dog", "sen_id": 123456789012345678901234567890}'
    path = tmp_path / "in.json"
    path.write_text(f"[{record}]" if layout == "array" else record)
    (read,) = iter_records(path)
    assert read["sen_id"] == pytest.approx(1.2345678901234568e29) and isinstance(read["sen_id"], float)


@pytest.mark.parametrize("command", ["filter", "embed", "gallery"])
def test_1e400_in_an_array_is_one_line_in_every_command(run_cli, env, tmp_path, command):
    path = tmp_path / "in.json"
    path.write_text("[\n" + RECORD.replace("NUMBER", "1e400") + "\n]\n")
    args = {"filter": ["filter", "-q", path],
            "embed": ["embed", "--model", env.model_dir, "--texts", path, "--out", tmp_path / "t"],
            "gallery": ["gallery", path, "-o", tmp_path / "page.html"]}[command]
    result = run_cli(*args)
    one_line(result, "in.json:2")
    assert result.stdout == b""
