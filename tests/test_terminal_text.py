"""Text from the data is never markup or terminal control: the search table and error lines."""

from __future__ import annotations

import pytest

TITLE = "\x1b]0;pwned\x07"  # sets the terminal window's title
CLEAR = "\x1b[2J"  # clears the screen


@pytest.fixture
def hostile_index(env, run_cli, tmp_path):
    from emoret.embedding.files import load_embeddings, save_embeddings

    videos = load_embeddings(env.videos)
    records = [dict(r) for r in videos.records]
    records[0]["video_id"] = f"{TITLE}clip0"
    for record in records:
        record["path"] = f"/videos/{CLEAR}[red]{record['video_id']}.mp4"
        record["video_emotions"] = {"[blink]joy": 0.9, "fear": 0.1}
    save_embeddings(tmp_path / "hostile", videos.vectors, records, dict(videos.meta))
    result = run_cli("index", tmp_path / "hostile", "--out", tmp_path / "idx")
    assert result.code == 0, result.stderr
    return tmp_path / "idx"


def as_terminal(run_cli, monkeypatch, *args):
    from emoret_cli import search

    monkeypatch.setattr(search, "_stdout_is_terminal", lambda: True)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return run_cli(*args)


@pytest.mark.parametrize("query", ["[/]", "[happy] dog", "[link=https://evil.example/x]click[/link]", "[bold]x"])
def test_a_query_is_shown_as_typed_never_read_as_markup(run_cli, env, monkeypatch, tmp_path, query):
    assert run_cli("index", env.videos, "--out", tmp_path / "idx").code == 0
    result = as_terminal(run_cli, monkeypatch, "search", query, "--index", tmp_path / "idx", "--top", "2")
    assert result.code == 0, result.stderr
    text = result.stdout.decode()
    assert query in text
    assert "evil.example" not in text.replace(query, "")  # no live link made of it


def test_names_from_the_data_cannot_drive_the_terminal(run_cli, monkeypatch, hostile_index):
    result = as_terminal(run_cli, monkeypatch, "search", "a happy dog", "--index", hostile_index, "--top", "6")
    assert result.code == 0, result.stderr
    text = result.stdout.decode()
    assert TITLE not in text and CLEAR not in text and "\x07" not in text
    assert "\\x1b]0;pwned\\x07" in text and "\\x1b[2J[red]" in text  # shown escaped, brackets as they are
    assert "[blink]joy 0.90" in text


def test_error_lines_show_control_characters_escaped(run_cli, tmp_path):
    missing = tmp_path / f"{CLEAR}hits{TITLE}.jsonl"
    result = run_cli("gallery", missing, "-o", tmp_path / "page.html")
    assert result.code == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\\x1b[2Jhits\\x1b]0;pwned\\x07.jsonl: no such file" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_newline_in_a_name_keeps_the_error_on_one_line(run_cli, tmp_path):
    bad = tmp_path / "two\nlines.jsonl"
    bad.write_text("not json\n")
    result = run_cli("filter", "-q", bad)
    assert result.code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "two\\x0alines.jsonl:1" in result.stderr


def test_printable_keeps_ordinary_text():
    from emoret.errors import printable

    assert printable("café, 日本, emoji 👨\u200d👩 [x]") == "café, 日本, emoji 👨\u200d👩 [x]"
    assert printable("a\u202eb") == "a\\u202eb"  # a right-to-left override cannot reorder the line
