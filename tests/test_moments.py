"""Moments of long videos: windows, shot cuts, ids, the long synthetic videos, the frame store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emoret.demo.long import long_layout, make_long_demo, make_long_videos
from emoret.demo.scenes import make_scenes
from emoret.video.decode import extract
from emoret.video.moments import clock, detect_shots, format_time, moment_id, windows
from emoret.video.sampling import Sampling

FPS = 12


def test_windows_cover_the_video_and_overlap_as_asked():
    assert windows(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert windows(10, 4, overlap=2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert windows(8, 4) == [(0, 4), (4, 8)]  # no empty or contained tail
    assert windows(3, 10) == [(0, 3)]  # shorter than a window: one moment
    assert windows(4, 2, start=6) == [(6, 8), (8, 10)]
    with pytest.raises(ValueError):
        windows(10, 4, overlap=4)


def test_ids_and_times_read_as_written():
    assert moment_id("party", 120, 130.0) == "party@120-130"
    assert moment_id("a", 2.5, 7.25) == "a@2.5-7.25"
    assert format_time(1 / 3) == "0.333" and format_time(0) == "0"
    assert clock(3) == "0:03" and clock(125.5) == "2:05.5" and clock(3723) == "1:02:03"


def _surprise_first(scenes):
    """Make sure a surprise scene (a bright flash mid-clip) is among the clips."""
    surprise = next(s for s in scenes if s.mood == "surprise")
    return [surprise] + [s for s in scenes if s is not surprise]


@pytest.fixture(scope="module")
def long_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    scenes = _surprise_first(make_scenes(9, seed=2))
    paths, records = make_long_videos(root / "long", scenes[:6], clips_per_video=3, seed=2,
                                                width=64, height=48, fps=FPS, workers=1)
    return root, paths, records


def clip_spans(records, video):
    return sorted({(r["start"], r["end"]) for r in records if r["video"] == video})


def test_long_videos_hold_their_clips_back_to_back(long_set):
    _, paths, records = long_set
    assert [p.name for p in paths] == ["long000.mp4", "long001.mp4"]
    layout = long_layout(_surprise_first(make_scenes(9, seed=2))[:6], 3, seed=2, fps=FPS)
    for path, clips in zip(paths, layout, strict=False):
        spans = clip_spans(records, path.name)
        assert len(spans) == 3 and spans[0][0] == 0
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
        assert all(a.scene.mood != b.scene.mood for a, b in zip(clips, clips[1:], strict=False))
        result = extract(path, Sampling(num_frames=2, size=16))
        assert result.source_frames == round(spans[-1][1] * FPS)
    by_clip = {}
    for record in records:
        by_clip.setdefault((record["video"], record["start"]), set()).add(record["clip"])
        assert {"video", "start", "end", "caption", "clip"} <= set(record)
    assert all(len(clips) == 1 for clips in by_clip.values())


def test_shot_cuts_fall_on_the_clip_boundaries_not_on_a_flash(long_set):
    _, paths, records = long_set
    for path in paths:
        truth = [a for a, _ in clip_spans(records, path.name)][1:]
        shots = detect_shots(path)
        assert shots.cuts == pytest.approx(truth, abs=1.5 / FPS), path.name
        assert shots.spans()[-1][1] == pytest.approx(clip_spans(records, path.name)[-1][1], abs=1 / FPS)


def test_extract_frames_stores_moments(long_set, run_cli, tmp_path):
    root, paths, records = long_set
    out = tmp_path / "frames"
    result = run_cli("extract-frames", root / "long", "-o", out, "--scenes", "-n", "3", "--size", "16", "-j", "1")
    assert result.code == 0, result.stderr
    manifest = {r["video_id"]: r for r in result.records}
    for path in paths:
        record = manifest[path.stem]
        edges = [t for m in record["moments"] for t in (m["start"], m["end"])]
        assert edges == pytest.approx([t for span in clip_spans(records, path.name) for t in span], abs=1.5 / FPS)
        assert [m["rows"] for m in record["moments"]] == [[0, 3], [3, 6], [6, 9]]
        assert np.load(out / f"{path.stem}.npy").shape == (9, 16, 16, 3)
        # Each moment's frames come from inside its span.
        times = np.array(record["frame_indices"]) / record["fps"]
        for moment in record["moments"]:
            a, b = moment["rows"]
            assert (times[a:b] >= moment["start"] - 1e-6).all() and (times[a:b] < moment["end"]).all()

    windowed = run_cli("extract-frames", paths[0], "-o", tmp_path / "w", "--segment", "2", "--overlap", "1",
                       "-n", "2", "--size", "16")
    assert windowed.code == 0, windowed.stderr
    moments = windowed.records[0]["moments"]
    assert [(m["start"], m["end"]) for m in moments][:3] == [(0, 2), (1, 3), (2, 4)]
    assert moments[-1]["end"] == pytest.approx(clip_spans(records, paths[0].name)[-1][1], abs=1 / FPS)

    again = run_cli("extract-frames", paths[0], "-o", tmp_path / "w", "--segment", "2", "--overlap", "1",
                    "-n", "2", "--size", "16")
    assert again.records == windowed.records  # unchanged: skipped, same record


@pytest.mark.parametrize("args", [["--overlap", "1"], ["--segment", "2", "--overlap", "2"]])
def test_bad_moment_options_are_usage_errors(long_set, run_cli, tmp_path, args):
    root, _, _ = long_set
    result = run_cli("extract-frames", root / "long", "-o", tmp_path / "f", *args)
    assert result.code == 2 and "overlap" in result.stderr and "Traceback" not in result.stderr


def test_make_demo_long_writes_videos_and_timed_captions(tmp_path):
    paths = make_long_demo(tmp_path, n_videos=4, seed=0, clips_per_video=2, width=32, height=24, fps=6)
    records = json.loads(paths["long_captions"].read_text())
    assert sorted(p.name for p in paths["long_videos"].iterdir()) == ["long000.mp4", "long001.mp4"]
    assert sorted({r["clip"] for r in records}) == [s.video_id for s in make_scenes(4, seed=0)]
    assert all(r["end"] > r["start"] >= 0 and r["caption"] for r in records)
