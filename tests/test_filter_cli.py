import json

import pytest

ROWS = [
    {"video_id": "v0", "caption": "a man is walking down the road"},  # neutral
    {"video_id": "v1", "caption": "a terrible horrible disaster kills people"},  # strong negative
    {"video_id": "v2", "caption": "a kid is surprised by the gift"},  # keyword: surprise
    {"video_id": "v3", "caption": "a car is parked"},  # neutral
    {"video_id": "v4", "caption": "wonderful amazing beautiful love"},  # strong positive
    {"video_id": "v5", "caption": "a woman talks about anger management"},  # keyword " anger"
    {"video_id": "v6", "caption": "someone is cooking pasta"},  # neutral
    {"video_id": "v7", "caption": "a dog runs in the park"},  # neutral
]


def jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def annotated(run_cli):
    return run_cli("annotate", stdin=jsonl(ROWS)).stdout


def ids(result):
    return [r["video_id"] for r in result.records]


def test_default_keeps_sentiment_and_keyword_matches(run_cli, annotated):
    result = run_cli("filter", "--thr", "0.6", stdin=annotated)
    assert result.code == 0
    assert ids(result) == ["v1", "v2", "v4", "v5"]
    assert all(r["emotion"] == 1 for r in result.records)
    assert result.stderr.strip() == "filter: read 8, emotional 4 (|compound| > 0.6: 2, keyword: 2), emitted 4"


def test_threshold_changes_what_sentiment_keeps(run_cli, annotated):
    assert ids(run_cli("filter", "--thr", "0.99", "--no-keywords", stdin=annotated)) == []
    assert ids(run_cli("filter", "--thr", "0.6", "--no-keywords", stdin=annotated)) == ["v1", "v4"]


def test_custom_keywords_replace_the_default(run_cli, annotated):
    result = run_cli("filter", "--keywords", "dog|pasta", stdin=annotated)
    assert ids(result) == ["v1", "v4", "v6", "v7"]


def test_invert_and_all(run_cli, annotated):
    inverted = run_cli("filter", "--invert", stdin=annotated)
    assert ids(inverted) == ["v0", "v3", "v6", "v7"]
    assert all(r["emotion"] == 0 for r in inverted.records)
    everything = run_cli("filter", "--all", stdin=annotated)
    assert [r["emotion"] for r in everything.records] == [0, 1, 1, 0, 1, 1, 0, 0]


def test_balance_draws_as_many_neutral_records(run_cli, annotated):
    first = run_cli("filter", "--balance", "--seed", "3", stdin=annotated)
    again = run_cli("filter", "--balance", "--seed", "3", stdin=annotated)
    assert first.stdout == again.stdout
    rows = first.records
    assert sum(r["emotion"] for r in rows) == 4 and len(rows) == 8
    # a bigger neutral pool (9): only as many neutral as emotional (4) are drawn, in input order
    extra = [{"video_id": f"n{i}", "caption": f"a plain scene number {i}"} for i in range(5)]
    pool = annotated + run_cli("annotate", stdin=jsonl(extra)).stdout
    more = run_cli("filter", "--balance", stdin=pool)
    assert len(more.records) == 8 and sum(r["emotion"] for r in more.records) == 4
    assert "4 non-emotional for balance" in more.stderr
    order = [ROW["video_id"] for ROW in ROWS] + [r["video_id"] for r in extra]
    assert ids(more) == sorted(ids(more), key=order.index)
    by_seed = {run_cli("filter", "--balance", "--seed", str(s), stdin=pool).stdout for s in range(6)}
    assert len(by_seed) > 1  # the seed decides which neutral records are drawn


def test_unannotated_records_are_annotated_on_the_fly(run_cli, annotated):
    raw = run_cli("filter", stdin=jsonl(ROWS))
    assert raw.stdout == run_cli("filter", stdin=annotated).stdout
    assert "annotated 8 on the fly" in raw.stderr


def test_output_file_and_quiet(run_cli, annotated, tmp_path):
    out = tmp_path / "emotional.jsonl"
    result = run_cli("filter", "-o", out, "-q", stdin=annotated)
    assert result.code == 0 and result.stdout == b"" and result.stderr == ""
    assert len(out.read_text().splitlines()) == 4


@pytest.mark.parametrize(
    "args,message",
    [
        (["--invert", "--all"], "emoret: choose one of --invert, --all and --balance"),
        (["--keywords", "(", "--thr", "0.5"], "emoret: --keywords is not a valid regular expression"),
        (["--keywords", "x", "--no-keywords"], "emoret: --keywords and --no-keywords contradict each other"),
    ],
)
def test_bad_options(run_cli, annotated, args, message):
    result = run_cli("filter", *args, stdin=annotated)
    assert result.code == 2
    assert result.stderr.startswith(message)
    assert result.stdout == b""


def test_bad_record_reports_line_and_keeps_earlier_output(run_cli, annotated):
    result = run_cli("filter", "--all", stdin=annotated + b'{"video_id": "v9"}\n')
    assert result.code == 2
    assert "emoret: <stdin>:9: record has no 'caption'" in result.stderr
    assert len(result.records) == 8


def test_empty_input(run_cli):
    result = run_cli("filter", stdin=b"")
    assert result.code == 0 and result.stdout == b""
