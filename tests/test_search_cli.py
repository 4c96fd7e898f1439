import numpy as np
import pytest

from emoret.embedding.files import load_embeddings
from emoret.embedding.runner import embed_texts
from emoret.index import store
from emoret.text.emotions import EMOTIONS, query_emotions


def exact_ids(env, text, emotions):
    videos = load_embeddings(env.videos)
    query = embed_texts(env.model, [text], emotions, precision="fp32")[0]
    order = np.argsort(-(videos.vectors @ query), kind="stable")
    return [videos.records[i]["video_id"] for i in order]


def test_search_json_lines_rank_like_exact_search(env, run_cli, index_dir):
    query = "a happy dog plays in the park"
    result = run_cli("search", query, "--index", index_dir, "--top", "3")
    assert result.code == 0, result.stderr
    hits = result.records  # stdout is not a terminal here: JSON lines
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert [h["video_id"] for h in hits] == exact_ids(env, query, [query_emotions(query)])[:3]
    assert all(h["query"] == query and h["duration"] == 2.5 for h in hits)
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    assert "frame_indices" not in hits[0] and "sampling" not in hits[0]


def test_emotion_options_change_the_query(env, run_cli, index_dir):
    query = "a dog plays in the park"  # no emotion word: NRC counts are all zero
    assert not any(query_emotions(query))
    default = run_cli("search", query, "--index", index_dir, "--top", "6").records
    none = run_cli("search", query, "--index", index_dir, "--top", "6", "--no-emotion").records
    forced = run_cli("search", query, "--index", index_dir, "--top", "6", "--emotions", "joy,fear").records
    assert [h["score"] for h in default] == [h["score"] for h in none]
    joy_fear = [[1, 0, 1, 0, 0, 0, 0, 0]]
    assert [h["video_id"] for h in forced] == exact_ids(env, query, joy_fear)
    assert [h["score"] for h in forced] != [h["score"] for h in none]
    assert {tuple(h["query_emotions"]) for h in default} == {()}
    assert {tuple(h["query_emotions"]) for h in none} == {()}
    assert {tuple(h["query_emotions"]) for h in forced} == {("joy", "fear")}


def test_hits_say_which_emotions_were_read_from_the_query(run_cli, index_dir, monkeypatch):
    query = "a happy dog"
    assert query_emotions(query)[0] > 0  # NRC: "happy" is joy
    read = [name for name, count in zip(EMOTIONS, query_emotions(query), strict=False) if count]
    hits = run_cli("search", query, "--index", index_dir, "--top", "2", "--json").records
    assert [list(h)[:3] for h in hits] == [["query", "query_emotions", "rank"]] * 2
    assert all(h["query_emotions"] == read for h in hits) and "joy" in read
    ignored = run_cli("search", query, "--index", index_dir, "--top", "2", "--no-emotion").records
    assert all(h["query_emotions"] == [] for h in ignored)
    from emoret_cli import search as search_cli

    monkeypatch.setattr(search_cli, "_stdout_is_terminal", lambda: True)
    table = run_cli("search", query, "--index", index_dir, "--top", "2").stdout.decode()
    assert f"query emotions: {', '.join(read)}" in table


def test_query_emotions_are_read_lowercased_unless_as_written(run_cli, index_dir):
    query = "Happy dog plays in the park"  # "Happy" counts only lowercased
    assert query_emotions(query) == query_emotions(query.lower()) != [0] * 8
    assert query_emotions(query, lowercase=False) == [0] * 8
    joy_words = ",".join(n for n, v in zip(EMOTIONS, query_emotions(query), strict=False) if v)
    default = run_cli("search", query, "--index", index_dir, "--top", "6").records
    forced = run_cli("search", query, "--index", index_dir, "--top", "6", "--emotions", joy_words).records
    as_written = run_cli("search", query, "--index", index_dir, "--top", "6", "--as-written").records
    none = run_cli("search", query, "--index", index_dir, "--top", "6", "--no-emotion").records
    assert [h["score"] for h in default] == [h["score"] for h in forced]
    assert [h["score"] for h in as_written] == [h["score"] for h in none]
    assert [h["score"] for h in default] != [h["score"] for h in none]


def test_stdin_answers_one_query_a_line(run_cli, index_dir):
    result = run_cli("search", "-", "--index", index_dir, "--top", "2", stdin="a happy dog\n\na sad man\n")
    assert result.code == 0, result.stderr
    assert [h["query"] for h in result.records] == ["a happy dog"] * 2 + ["a sad man"] * 2


def test_index_from_environment_then_default(run_cli, index_dir, monkeypatch, tmp_path):
    # run_cli undoes monkeypatch after each call, so each call sets its own environment.
    monkeypatch.setenv("EMORET_INDEX", str(index_dir))
    assert run_cli("search", "a dog", "--top", "1").code == 0
    monkeypatch.delenv("EMORET_INDEX", raising=False)
    monkeypatch.chdir(tmp_path)
    missing = run_cli("search", "a dog")
    assert missing.code == 2 and "emoret-index" in missing.stderr and "no such index" in missing.stderr


def test_table_on_a_terminal_unless_json(run_cli, index_dir, monkeypatch):
    from emoret_cli import search as search_cli

    monkeypatch.setattr(search_cli, "_stdout_is_terminal", lambda: True)
    table = run_cli("search", "a happy dog", "--index", index_dir, "--top", "2")
    assert table.code == 0, table.stderr
    text = table.stdout.decode()
    assert "a happy dog" in text and "rank" in text and "score" in text and "2.5s" in text
    assert not text.lstrip().startswith("{")
    as_json = run_cli("search", "a happy dog", "--index", index_dir, "--top", "2", "--json")
    assert len(as_json.records) == 2


def test_the_feels_column_shows_only_where_a_hit_has_video_emotions(capsys, monkeypatch):
    from emoret_cli.hits_table import print_table as _print_table

    monkeypatch.setenv("COLUMNS", "200")
    plain = store.Hit(1, 0.9, {"video_id": "a", "duration": 2.0})
    felt = store.Hit(2, 0.8, {"video_id": "b", "duration": 2.0, "video_emotions": {"joy": 0.82, "fear": 0.18}})
    _print_table("a dog", [], [plain])
    assert "feels" not in capsys.readouterr().out
    _print_table("a dog", [], [plain, felt])
    assert "feels" in (text := capsys.readouterr().out) and "joy 0.82" in text


@pytest.mark.parametrize(
    "args, expected",
    [
        (("", ), "query is empty"),
        (("a dog", "--emotions", "glee"), "unknown emotion 'glee'"),
        (("a dog", "--emotions", "joy", "--no-emotion"), "contradict"),
    ],
)
def test_bad_input_is_one_line_exit_2(run_cli, index_dir, args, expected):
    result = run_cli("search", *args, "--index", index_dir)
    assert result.code == 2 and expected in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == b""


def test_a_model_other_than_the_index_is_refused(env, run_cli, index_dir):
    other = run_cli("search", "a dog", "--index", index_dir, "--model", env.base)
    assert other.code == 2 and "another model" in other.stderr and other.stdout == b""
    missing = run_cli("search", "a dog", "--index", index_dir, "--model", env.root / "no-model")
    assert missing.code == 2 and "no-model" in missing.stderr


def test_dimension_mismatch_is_refused(env, run_cli, tmp_path):
    path = tmp_path / "idx"
    vectors = np.eye(5, 7, dtype=np.float32)
    with store.writer_lock(path):
        store.write_index(path, vectors, [{"video_id": str(i)} for i in range(5)], {"model": str(env.base)})
    result = run_cli("search", "a dog", "--index", path)
    assert result.code == 2 and "dimension 7" in result.stderr


def test_hits_leave_out_the_frame_store_bookkeeping():
    from emoret.index.store import Hit
    from emoret.query.search import hit_record

    item = {"video_id": "a", "path": "/v/a.mp4", "frames_size": 49280, "frames_mtime_ns": 1, "source_size": 9,
            "frame_indices": [0, 3], "sampling": {"rule": "linspace"}, "moments": [], "duration": 2.0}
    record = hit_record("q", Hit(1, 0.5, item), ["joy"])
    assert record == {"query": "q", "query_emotions": ["joy"], "rank": 1, "score": 0.5, "video_id": "a",
                      "path": "/v/a.mp4", "duration": 2.0}
