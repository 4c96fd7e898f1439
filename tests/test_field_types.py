"""Wrong-type fields swept through every command that reads them: exit 2, one line naming
file, line and field, never a traceback (the probe's 648 cases, and a few more)."""

from __future__ import annotations

import json

import pytest

from emoret.text.emotions import EMOTIONS

COUNTS = [*EMOTIONS, "positive", "negative", "neutral"]
NOT_SECONDS = ["x", -1, 1e308, None, [0], True]
# Each field with values that break its contract (DESIGN.md's records).
WRONG: dict[str, list] = {
    "caption": [5, ["a dog"], {"a": 1}],
    "video_id": [1.5, ["clip0"], {"a": 1}, True],
    "video": [5, ["clip0.mp4"], {"a": 1}],
    "path": [5, ["/videos/clip0.mp4"], {"a": 1}, None],
    "start": NOT_SECONDS,
    "end": NOT_SECONDS,
    "duration": ["x", -1, 1e308, [1], True],
    "score": ["x", None, [0.5], True],
    "rank": ["x", 1.5, -1, None],
    "emotion": ["yes", 2, -1, 0.5, None, [1]],
    "sentiment": ["x", [0.5], None, {"compound": "x"}, {"compound": 5}, {"neg": -1}],
    "video_emotions": ["x", [0.5], {"joy": "x"}, {"joy": 5}, {"joy": None}, {"joy": 1e308}],
    "query_emotions": ["x", [1]],
    "joy": ["x", 1.5, -1, 1e308, None, [1], True],
    **{name: ["x", 1.5] for name in COUNTS[1:]},  # the same check as joy's: two values suffice
}
CAPTION_FIELDS = ["caption", "video_id", "video", "sentiment", "emotion", "start", "end", "duration", *COUNTS]
HIT_FIELDS = ["query", "query_emotions", "rank", "score", "video_id", "path", "start", "end", "duration", "video_emotions"]
VIDEO_FIELDS = ["video_id", "video", "path", "start", "end", "duration", "video_emotions"]
WRONG["query"] = [5, ["a dog"]]

HIT = {"query": "a dog", "query_emotions": [], "rank": 1, "score": 0.5, "video_id": "clip0",
       "path": "/nonexistent/clip0.mp4", "start": 0.0, "end": 1.0, "duration": 2.5,
       "video_emotions": {"joy": 0.6, "neutral": 0.4}}
ANNOTATED = {"sentiment": {"neg": 0.0, "neu": 0.5, "pos": 0.5, "compound": 0.6}, "joy": 1, "trust": 0, "fear": 0,
             "surprise": 0, "sadness": 0, "disgust": 0, "anger": 0, "anticipation": 0, "positive": 1,
             "negative": 0, "neutral": 0, "emotion": 1, "start": 0.0, "end": 1.0, "duration": 2.5}


def cases(fields):
    return [pytest.param(field, value, id=f"{field}={json.dumps(value)}") for field in fields for value in WRONG[field]]


def one_line(result, source, field):
    assert result.code == 2, (result.code, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{source}:2" in result.stderr and f"'{field}'" in result.stderr, result.stderr


def spoiled(records, field, value, row=1):
    """The records with ``field`` of record ``row`` (line 2) set to ``value``."""
    out = [dict(r) for r in records]
    out[row][field] = value
    return out


def write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def spoiled_set(tmp_path, name, embeddings, field, value):
    """An embedding set (vectors unchanged, digests right) whose second record has the bad field."""
    from emoret.embedding.files import save_embeddings

    save_embeddings(tmp_path / name, embeddings.vectors, spoiled(embeddings.records, field, value), dict(embeddings.meta))
    return tmp_path / name


@pytest.fixture(scope="module")
def sets(env):
    from emoret.embedding.files import load_embeddings

    return load_embeddings(env.texts), load_embeddings(env.videos)


def caption_records(env):
    from retrieval_data import caption_records as records

    return [{**record, **ANNOTATED} for record in records()]


@pytest.mark.parametrize("command", ["annotate", "filter", "embed", "tsne"])
@pytest.mark.parametrize(("field", "value"), cases(CAPTION_FIELDS))
def test_caption_fields(run_cli, env, tmp_path, command, field, value):
    path = write_lines(tmp_path / "caps.jsonl", spoiled(caption_records(env), field, value))
    args = {"annotate": ["annotate", path],
            "filter": ["filter", "-q", path],
            "embed": ["embed", "--model", env.model_dir, "--texts", path, "--out", tmp_path / "t"],
            "tsne": ["tsne", "--videos", env.videos, "--annotations", path, "-o", tmp_path / "t.png"]}[command]
    one_line(run_cli(*args), "caps.jsonl", field)


@pytest.mark.parametrize(("field", "value"), cases(["caption", "video_id", "video", "emotion", "joy", "sentiment"]))
def test_caption_fields_in_train(run_cli, env, tmp_path, field, value):
    path = write_lines(tmp_path / "caps.jsonl", spoiled(caption_records(env), field, value))
    result = run_cli("train", "--model", env.base, "--captions", path, "--frames", env.frames,
                     "--out", tmp_path / "run", "--num-frames", "2", "--batch-size", "2", "--epochs", "1")
    one_line(result, "caps.jsonl", field)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["eval", "tsne"])
@pytest.mark.parametrize(("field", "value"), cases(CAPTION_FIELDS))
def test_caption_embedding_records(run_cli, env, sets, tmp_path, command, field, value):
    texts = spoiled_set(tmp_path, "t", sets[0], field, value)
    args = {"eval": ["eval", "--texts", texts, "--videos", env.videos],
            "tsne": ["tsne", "--texts", texts, "--videos", env.videos, "-o", tmp_path / "t.png"]}[command]
    one_line(run_cli(*args), "t.jsonl", field)


@pytest.mark.parametrize("command", ["index", "eval", "tsne"])
@pytest.mark.parametrize(("field", "value"), cases(VIDEO_FIELDS))
def test_video_embedding_records(run_cli, env, sets, tmp_path, command, field, value):
    videos = spoiled_set(tmp_path, "v", sets[1], field, value)
    args = {"index": ["index", videos, "--out", tmp_path / "idx"],
            "eval": ["eval", "--texts", env.texts, "--videos", videos],
            "tsne": ["tsne", "--texts", env.texts, "--videos", videos, "-o", tmp_path / "t.png"]}[command]
    one_line(run_cli(*args), "v.jsonl", field)
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize("command", ["index", "eval", "tsne"])
@pytest.mark.parametrize(("field", "value"), cases(["video_id", "video_emotions"]))
def test_feel_records(run_cli, env, tmp_path, command, field, value):
    feel = [{"video_id": f"clip{i}", "video_emotions": {"joy": 0.5, "neutral": 0.5}} for i in range(6)]
    path = write_lines(tmp_path / "feel.jsonl", spoiled(feel, field, value))
    args = {"index": ["index", env.videos, "--emotions", path, "--out", tmp_path / "idx"],
            "eval": ["eval", "--texts", env.texts, "--videos", env.videos, "--video-emotions", path,
                     "--emotion-weight", "0.1"],
            "tsne": ["tsne", "--videos", env.videos, "--video-emotions", path, "-o", tmp_path / "t.png"]}[command]
    one_line(run_cli(*args), "feel.jsonl", field)


@pytest.mark.parametrize("frames", [False, True])
@pytest.mark.parametrize(("field", "value"), cases(HIT_FIELDS))
def test_hit_fields_in_gallery(run_cli, env, tmp_path, frames, field, value):
    hits = [dict(HIT), {**HIT, "rank": 2, "video_id": "clip1"}]
    path = write_lines(tmp_path / "hits.jsonl", spoiled(hits, field, value))
    args = ["gallery", path, "-o", tmp_path / "page.html"] + (["--frames", env.frames] if frames else [])
    one_line(run_cli(*args), "hits.jsonl", field)
    assert not (tmp_path / "page.html").exists()


def test_an_end_before_its_start_is_one_line(run_cli, tmp_path):
    path = write_lines(tmp_path / "hits.jsonl", [HIT, {**HIT, "start": 5.0, "end": 1.0}])
    one_line(run_cli("gallery", path, "-o", tmp_path / "page.html"), "hits.jsonl", "end")


def test_good_records_still_pass_and_odd_but_valid_ones_too(run_cli, env, tmp_path):
    hits = [HIT, {**HIT, "rank": 2, "video_id": 7, "score": 1.7, "duration": None, "emotion": 1.0, "joy": 2.0}]
    path = write_lines(tmp_path / "hits.jsonl", hits)
    result = run_cli("gallery", path, "-o", tmp_path / "page.html")
    assert result.code == 0, result.stderr
    assert "clip0" in (tmp_path / "page.html").read_text()


def test_the_schema_accepts_what_emoret_and_the_seed_write(tmp_path):
    from emoret.errors import InputError
    from emoret.records import iter_records

    fine = [{"video_id": None, "video": "a.mp4", "caption": "c", "duration": None, "emotion": True, "joy": 2.0},
            {"video_id": 7, "video": None, "caption": "c", "emotion": 1.0, "score": 1.7, "sen_id": "anything"},
            {"video_id": "v", "caption": "c", "start": 0, "end": 0, "video_emotions": {"joy": 1}}]
    assert list(iter_records(write_lines(tmp_path / "fine.jsonl", fine))) == fine
    with pytest.raises(InputError, match=r"bad.jsonl:2: field 'joy' must be a count \(a whole number, 0 or more\), "
                                         r"not 1.5"):
        list(iter_records(write_lines(tmp_path / "bad.jsonl", [fine[0], {**fine[1], "joy": 1.5}])))


def test_one_view_of_a_records_video_names_it_the_same_way_everywhere():
    from emoret.fields import VideoRecord

    moment = {"video_id": "v1", "path": "/videos/v1.mp4", "start": 0.0, "end": 10.0}
    stored = {"video_id": "v1", "source": "/videos/v1.mp4"}  # a frame store's record
    caption = {"video": "v1.mp4", "caption": "a dog"}
    assert VideoRecord(moment).key == VideoRecord({**moment, "start": 10.0}).key == "/videos/v1.mp4"
    assert VideoRecord(stored).key == "v1"  # its name before the file it was made from, as the index groups
    assert [VideoRecord(r).label for r in (moment, stored, caption, {"video_id": 7})] == [
        "/videos/v1.mp4", "/videos/v1.mp4", "v1.mp4", "7"]
    assert (VideoRecord(moment).name, VideoRecord(caption).name, VideoRecord({}).label) == ("v1", "v1.mp4", "")
