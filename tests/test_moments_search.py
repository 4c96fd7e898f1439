"""Finding moments in long videos: a clip's caption finds its long video at the clip's time."""

from __future__ import annotations

import os

import pytest
from moments_data import iou, moments_env  # noqa: F401


def search_all(run_cli, index, captions, *args):
    queries = "".join(c["caption"] + "\n" for c in captions)
    result = run_cli("search", "-", "--index", index, "--top", "1", "--json", *args, stdin=queries)
    assert result.code == 0, result.stderr
    hits = result.records
    assert [h["query"] for h in hits] == [c["caption"] for c in captions]
    return hits


def found_at_the_moment(hits, captions) -> float:
    good = 0
    for hit, caption in zip(hits, captions, strict=False):
        span = (hit.get("start", 0.0), hit.get("end", hit.get("duration", 0.0)))
        good += hit["video"] == caption["video"] and iou(span, (caption["start"], caption["end"])) >= 0.5
    return good / len(captions)


@pytest.mark.slow
def test_a_caption_finds_its_long_video_at_the_clip(moments_env, run_cli, tmp_path):  # noqa: F811
    env = moments_env
    index = tmp_path / "idx"
    built = run_cli("index", "--model", env.model, env.long_dir, "--scenes", "--out", index)
    assert built.code == 0, built.stderr
    hits = search_all(run_cli, index, env.captions)
    assert found_at_the_moment(hits, env.captions) >= 0.9
    first = hits[0]
    assert first["moment_id"] == f"{first['video_id']}@{first['start']:g}-{first['end']:g}"

    # Control: whole videos found alike, but a whole video is not the moment.
    whole = tmp_path / "whole"
    assert run_cli("index", "--model", env.model, env.long_dir, "--out", whole).code == 0
    whole_hits = search_all(run_cli, whole, env.captions)
    assert "start" not in whole_hits[0]
    assert found_at_the_moment(whole_hits, env.captions) == 0


@pytest.mark.slow
def test_per_video_groups_moments_and_refresh_reembeds_one_file(moments_env, run_cli, tmp_path):  # noqa: F811
    env = moments_env
    index = tmp_path / "idx"
    built = run_cli("index", "--model", env.model, env.long_dir, "--segment", "3", "--overlap", "1", "--out", index)
    assert built.code == 0, built.stderr
    query = env.captions[0]["caption"]

    two = run_cli("search", query, "--index", index, "--top", "2", "--per-video", "2", "--json").records
    assert [h["rank"] for h in two] == [1, 2, 3, 4]
    assert sorted(h["score"] for h in two) == [h["score"] for h in reversed(two)]
    videos = [h["video"] for h in two]
    assert len(set(videos)) == 2 and all(videos.count(v) == 2 for v in videos)

    every = run_cli("search", query, "--index", index, "--top", "5", "--per-video", "0", "--json").records
    assert len(every) == 5 and len({h["moment_id"] for h in every}) == 5
    one = run_cli("search", query, "--index", index, "--top", "5", "--json").records
    assert len(one) == 3 and len({h["video"] for h in one}) == 3  # three long videos, one moment each
    assert one[0]["moment_id"] == every[0]["moment_id"]

    os.utime(env.paths[1], ns=(1, 1))  # one file "changed": only it is embedded again
    again = run_cli("index", "--model", env.model, env.long_dir, "--segment", "3", "--overlap", "1", "--out", index)
    assert again.code == 0 and "kept 2, embedded 1" in again.stderr, again.stderr
    same = run_cli("index", "--model", env.model, env.long_dir, "--segment", "3", "--overlap", "1", "--out", index)
    assert "up to date" in same.stderr
    other_cut = run_cli("index", "--model", env.model, env.long_dir, "--scenes", "--out", index)
    assert "kept 0, embedded 3" in other_cut.stderr  # cut another way: every file again


@pytest.mark.slow
def test_embed_files_in_moments_then_index(moments_env, run_cli, tmp_path):  # noqa: F811
    env = moments_env
    out = tmp_path / "moments"
    result = run_cli("embed", "--model", env.model, env.long_dir, "--scenes", "--out", out)
    assert result.code == 0, result.stderr
    assert "9 moments" in result.stderr
    import orjson

    records = [orjson.loads(line) for line in (tmp_path / "moments.jsonl").read_bytes().splitlines()]
    spans = sorted((r["video"], r["start"], r["end"]) for r in records)
    truth = sorted({(c["video"], c["start"], c["end"]) for c in env.captions})
    assert [s[0] for s in spans] == [t[0] for t in truth]
    assert all(abs(s[1] - t[1]) <= 1 / 8 and abs(s[2] - t[2]) <= 1 / 8 for s, t in zip(spans, truth, strict=False))


@pytest.mark.slow
def test_the_table_links_each_path_and_shows_the_moment(moments_env, run_cli, tmp_path, monkeypatch):  # noqa: F811
    from emoret.report.gallery import play_link
    from emoret_cli import search as command

    env = moments_env
    index = tmp_path / "idx"
    assert run_cli("index", "--model", env.model, env.long_dir, "--scenes", "--out", index).code == 0
    caption = env.captions[0]
    json_hit = run_cli("search", caption["caption"], "--index", index, "--top", "1").records[0]

    def as_terminal(*args):
        monkeypatch.setattr(command, "_stdout_is_terminal", lambda: True)
        monkeypatch.setenv("FORCE_COLOR", "1")
        monkeypatch.setenv("COLUMNS", "200")
        return run_cli(*args)

    table = as_terminal("search", caption["caption"], "--index", index, "--top", "1")
    assert table.code == 0, table.stderr
    text = table.stdout.decode()
    link = play_link(json_hit)
    assert link.endswith(f"#t={json_hit['start']:g},{json_hit['end']:g}")
    assert "\x1b]8;id=" in text and link in text  # OSC 8: the terminal makes the path clickable
    from emoret.video.moments import clock

    assert f"{clock(json_hit['start'])}–{clock(json_hit['end'])}" in text


@pytest.mark.slow
def test_frame_store_moments_embed_one_row_each_and_search_writes_a_page(moments_env, run_cli, tmp_path):  # noqa: F811
    env = moments_env
    frames = tmp_path / "frames"
    assert run_cli("extract-frames", env.long_dir, "-o", frames, "--scenes", "-n", "4", "--size", "48").code == 0
    # fp32 as the in-process query is: the ranking below must not depend on the CPU (auto may pick bf16).
    embedded = run_cli("embed", "--model", env.model, "--frames", frames, "--out", tmp_path / "m", "--precision", "fp32")
    assert embedded.code == 0 and "9 moments" in embedded.stderr, embedded.stderr
    assert run_cli("index", tmp_path / "m", "--out", tmp_path / "idx").code == 0
    page = tmp_path / "page.html"
    caption = env.captions[0]
    result = run_cli("search", caption["caption"], "--index", tmp_path / "idx", "--top", "2", "--html", page,
                     "--frames", frames)
    assert result.code == 0, result.stderr
    hits = result.records
    assert len(hits) == 2 and hits[0]["video_id"] == caption["video"].removesuffix(".mp4")
    assert hits[0]["moment_id"] == f"{hits[0]['video_id']}@{hits[0]['start']:g}-{hits[0]['end']:g}"
    text = page.read_text()
    assert text.count("<img ") == 2 * 4 and text.count('class="hit"') == 2
    assert f"#t={hits[0]['start']:g},{hits[0]['end']:g}" in text
