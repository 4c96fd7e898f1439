"""`emoret extract-frames`: the store it writes, incremental re-runs, --reencode, bad input."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import orjson
import pytest

from emoret.demo import synthetic
from emoret.demo.encode import write_video
from emoret.video.decode import extract
from emoret.video.frames import read_manifest
from emoret.video.sampling import Sampling, sample_indices

SMALL = ["--num-frames", "4", "--size", "16", "--workers", "1"]


@pytest.fixture(scope="module")
def video_set(tmp_path_factory):
    """Three tiny synthetic videos (64x48, 10 fps, 1 s) and their caption records."""
    root = tmp_path_factory.mktemp("set")
    paths, records = synthetic.make_videos(root / "videos", 3, seed=3, width=64, height=48, fps=10,
                                           duration=1.0, workers=1)
    return root, paths, records


@pytest.fixture
def videos(tmp_path, video_set):
    """A private copy, so a test may touch or break files."""
    root, paths, _ = video_set
    target = tmp_path / "videos"
    shutil.copytree(root / "videos", target)
    return target


def manifest_lines(out):
    return [orjson.loads(line) for line in (out / "manifest.jsonl").read_bytes().splitlines()]


def stderr_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_extracts_store_and_prints_manifest(run_cli, videos, tmp_path):
    out = tmp_path / "frames"
    result = run_cli("extract-frames", videos, "--out", out, *SMALL)
    assert result.code == 0, result.stderr
    assert stderr_lines(result) == [f"extract-frames: extracted 3, up to date 0, failed 0 → {out}"]
    records = result.records
    assert [r["video_id"] for r in records] == ["synth000", "synth001", "synth002"]
    assert records == manifest_lines(out) == read_manifest(out)
    for record in records:
        frames = np.load(out / f"{record['video_id']}.npy")
        assert frames.shape == (4, 16, 16, 3) and frames.dtype == np.uint8
        assert record["n_frames"] == 4
        assert (record["width"], record["height"], record["fps"], record["source_frames"]) == (64, 48, 10.0, 10)
        assert record["duration"] == pytest.approx(1.0)
        assert record["frame_indices"] == sample_indices(10, 4)
        assert record["sampling"] == {"num_frames": 4, "rule": "linspace", "size": 16, "resize": "crop"}
        assert record["source"] == str(videos / f"{record['video_id']}.mp4")
        assert "error" not in record and "warning" not in record
    # The frames are what the library decodes.
    same = extract(videos / "synth001.mp4", Sampling(num_frames=4, size=16)).frames
    assert np.array_equal(np.load(out / "synth001.npy"), same)


def test_rerun_skips_unchanged_and_redoes_changed(run_cli, videos, tmp_path):
    out = tmp_path / "frames"
    first = run_cli("extract-frames", videos, "--out", out, *SMALL)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}

    again = run_cli("extract-frames", videos, "--out", out, *SMALL)
    assert again.code == 0 and again.stdout == first.stdout
    assert stderr_lines(again) == [f"extract-frames: extracted 0, up to date 3, failed 0 → {out}"]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")} == stamps  # nothing rewritten

    touched = videos / "synth001.mp4"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    changed = run_cli("extract-frames", videos, "--out", out, *SMALL)
    assert changed.code == 0
    assert stderr_lines(changed) == [f"extract-frames: extracted 1, up to date 2, failed 0 → {out}"]
    now = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    assert [name for name in sorted(now) if now[name] != stamps[name]] == ["synth001.npy"]
    assert manifest_lines(out)[1]["source_mtime_ns"] == touched.stat().st_mtime_ns

    forced = run_cli("extract-frames", videos, "--out", out, *SMALL, "--force")
    assert forced.code == 0
    assert all(p.stat().st_mtime_ns != now[p.name] for p in out.glob("*.npy"))

    bigger = run_cli("extract-frames", videos, "--out", out, "--num-frames", "4", "--size", "24", "-j", "1")
    assert bigger.code == 0
    assert np.load(out / "synth000.npy").shape == (4, 24, 24, 3)  # other sampling: redone


def test_sampling_rule_is_recorded_and_a_change_re_extracts(run_cli, videos, tmp_path):
    out = tmp_path / "frames"
    one = videos / "synth000.mp4"
    first = run_cli("extract-frames", one, "--out", out, *SMALL)
    assert first.code == 0, first.stderr
    (record,) = first.records
    assert record["frame_indices"] == [0, 3, 6, 9]  # linspace over 10 frames: first and last included
    linspace_frames = np.load(out / "synth000.npy")

    middle = run_cli("extract-frames", one, "--out", out, *SMALL, "--sampling", "middle")
    assert middle.code == 0, middle.stderr
    (record,) = middle.records
    assert record["frame_indices"] == [1, 3, 6, 8]
    assert record["sampling"]["rule"] == "middle"
    assert manifest_lines(out)[0]["sampling"]["rule"] == "middle"
    assert np.array_equal(np.load(out / "synth000.npy"), extract(one, Sampling(num_frames=4, size=16, rule="middle")).frames)
    stamp = (out / "synth000.npy").stat().st_mtime_ns

    # A store written before the rule was recorded was made with "middle": kept for --sampling middle.
    lines = manifest_lines(out)
    del lines[0]["sampling"]["rule"]
    (out / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    again = run_cli("extract-frames", one, "--out", out, *SMALL, "--sampling", "middle")
    assert again.code == 0 and (out / "synth000.npy").stat().st_mtime_ns == stamp

    back = run_cli("extract-frames", one, "--out", out, *SMALL)  # the default again: redone
    assert back.code == 0
    assert back.records[0]["frame_indices"] == [0, 3, 6, 9]
    assert np.array_equal(np.load(out / "synth000.npy"), linspace_frames)


def test_sampling_rule_with_fps_is_refused(run_cli, videos, tmp_path):
    result = run_cli("extract-frames", videos, "--out", tmp_path / "f", "--fps", "2", "--sampling", "middle")
    assert result.code == 2
    assert "--sampling" in result.stderr
    assert not (tmp_path / "f").exists()


def test_manifest_keeps_other_videos_and_updates_in_place(run_cli, videos, tmp_path):
    out = tmp_path / "frames"
    run_cli("extract-frames", videos / "synth002.mp4", "--out", out, *SMALL)
    result = run_cli("extract-frames", videos / "synth000.mp4", videos / "synth002.mp4", "--out", out, *SMALL)
    assert [r["video_id"] for r in result.records] == ["synth000", "synth002"]
    assert [r["video_id"] for r in manifest_lines(out)] == ["synth002", "synth000"]


def test_from_caption_records_and_stdin(run_cli, videos, video_set, tmp_path):
    _, _, records = video_set
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps(records))  # several captions a video: each video once
    out = tmp_path / "frames"
    result = run_cli("extract-frames", "--from", captions, "--video-root", videos, "--out", out, *SMALL)
    assert result.code == 0, result.stderr
    assert [r["video_id"] for r in result.records] == ["synth000", "synth001", "synth002"]

    by_id = "".join(json.dumps({"video_id": vid, "caption": "x"}) + "\n" for vid in ["synth002", "synth000"])
    again = run_cli("extract-frames", "--from", "-", "--video-root", videos, "--out", tmp_path / "f2", *SMALL,
                    stdin=by_id)
    assert again.code == 0, again.stderr
    assert [r["video_id"] for r in again.records] == ["synth002", "synth000"]


def test_fps_and_squash(run_cli, videos, tmp_path):
    out = tmp_path / "frames"
    result = run_cli("extract-frames", videos / "synth000.mp4", "--out", out, "--fps", "4", "--size", "8",
                     "--resize", "squash", "-j", "1")
    assert result.code == 0, result.stderr
    (record,) = result.records
    assert record["frame_indices"] == [0, 3, 5, 8]  # 10 frames at 10 fps, kept at 4 fps (2.5 rounds up)
    assert record["sampling"] == {"fps": 4.0, "size": 8, "resize": "squash"}
    assert np.load(out / "synth000.npy").shape == (4, 8, 8, 3)


def test_reencode(run_cli, videos, tmp_path):
    out, smaller = tmp_path / "frames", tmp_path / "small"
    result = run_cli("extract-frames", videos, "--out", out, "--reencode", smaller, "--fps", "5",
                     "--size", "24", "-j", "1")
    assert result.code == 0, result.stderr
    for record in result.records:
        copy = smaller / f"{record['video_id']}.mp4"
        assert record["reencoded"] == str(copy)
        again = extract(copy, Sampling(num_frames=1, size=8))
        assert (again.width, again.height, again.fps, again.source_frames) == (32, 24, 5.0, 5)
    # Asked again, nothing to do; asked without --reencode, the frames stay as they are.
    stamps = {p: p.stat().st_mtime_ns for p in list(smaller.iterdir()) + list(out.glob("*.npy"))}
    assert run_cli("extract-frames", videos, "--out", out, "--reencode", smaller, "--fps", "5",
                   "--size", "24", "-j", "1").code == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_reencode_added_later_keeps_frames(run_cli, videos, tmp_path):
    out, smaller = tmp_path / "frames", tmp_path / "small"
    run_cli("extract-frames", videos, "--out", out, *SMALL)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    result = run_cli("extract-frames", videos, "--out", out, *SMALL, "--reencode", smaller)
    assert result.code == 0, result.stderr
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert sorted(p.name for p in smaller.iterdir()) == ["synth000.mp4", "synth001.mp4", "synth002.mp4"]
    assert all(r["n_frames"] == 4 and r["reencoded"] for r in result.records)


def test_parallel_workers_give_the_same_store(run_cli, videos, tmp_path):
    one = run_cli("extract-frames", videos, "--out", tmp_path / "one", "--num-frames", "4", "--size", "16", "-j", "1")
    two = run_cli("extract-frames", videos, "--out", tmp_path / "two", "--num-frames", "4", "--size", "16", "-j", "2")
    assert two.code == 0, two.stderr

    def written_when(records):  # the frame files' mtimes differ from run to run
        return [{k: v for k, v in r.items() if k != "frames_mtime_ns"} for r in records]

    assert written_when(two.records) == written_when(one.records)
    for name in ["synth000.npy", "synth001.npy", "synth002.npy"]:
        assert np.array_equal(np.load(tmp_path / "one" / name), np.load(tmp_path / "two" / name))


def test_bad_videos_are_reported_and_the_rest_extracted(run_cli, videos, tmp_path):
    import av

    good = (videos / "synth000.mp4").read_bytes()
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "notes.mp4").write_text("not a video\n")
    (videos / "truncated.mp4").write_bytes(good[: len(good) // 3])
    with av.open(str(videos / "sound.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in list(stream.encode(frame)) + list(stream.encode(None)):
            container.mux(packet)
    write_video(videos / "short.mp4", [np.full((48, 64, 3), 90, np.uint8)] * 2, fps=10)
    unreadable = videos / "locked.mp4"
    unreadable.write_bytes(good)
    unreadable.chmod(0)
    out = tmp_path / "frames"
    result = run_cli("extract-frames", videos, "--out", out, *SMALL)

    assert result.code == 1
    by_id = {r["video_id"]: r for r in result.records}
    assert by_id == {r["video_id"]: r for r in manifest_lines(out)}
    errors = {vid: r.get("error") for vid, r in by_id.items() if "error" in r}
    expected = {
        "empty": "empty file (0 bytes)",
        "notes": "not a video file, or a truncated or corrupt one",
        "truncated": "not a video file, or a truncated or corrupt one",
        "sound": "no video stream (audio only)",
    }
    if os.geteuid() != 0:  # root can read anything
        expected["locked"] = "permission denied"
    assert errors == expected
    assert by_id["short"]["warning"] == "only 2 frames, fewer than the 4 asked: frames repeated"
    assert by_id["short"]["frame_indices"] == [0, 0, 0, 1]  # linspace(0, 1, 4) truncated
    for vid in ["synth000", "synth001", "synth002", "short"]:
        assert (out / f"{vid}.npy").exists()
    for vid in expected:
        assert not (out / f"{vid}.npy").exists()
    lines = stderr_lines(result)
    for vid, error in expected.items():
        assert f"emoret: {videos / vid}.mp4: {error}" in lines
    assert f"emoret: warning: {videos / 'short.mp4'}: {by_id['short']['warning']}" in lines
    assert lines[-1].startswith(
        f"extract-frames: extracted {len(by_id) - len(expected)}, up to date 0, failed {len(expected)} → {out} (see 'error' in ")
    assert len(lines) == len(expected) + 2

    # Failed videos are tried again on the next run; good ones are not redone.
    (videos / "empty.mp4").write_bytes(good)
    again = run_cli("extract-frames", videos, "--out", out, *SMALL)
    assert again.code == 1
    assert "error" not in {r["video_id"]: r for r in again.records}["empty"]


def test_interrupted_run_leaves_no_half_files_and_resumes(run_cli, videos, tmp_path, monkeypatch):
    out = tmp_path / "frames"
    run_cli("extract-frames", videos / "synth000.mp4", "--out", out, *SMALL)
    before = (out / "manifest.jsonl").read_bytes()

    import emoret.video.frames

    real_save = np.save
    calls = []

    def save_then_interrupt(handle, array, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            handle.write(b"half")
            raise KeyboardInterrupt
        real_save(handle, array, **kwargs)

    monkeypatch.setattr(emoret.video.frames.np, "save", save_then_interrupt)
    result = run_cli("extract-frames", videos, "--out", out, *SMALL)
    monkeypatch.setattr(emoret.video.frames.np, "save", real_save)
    assert result.code == 130
    assert sorted(p.name for p in out.iterdir()) == ["manifest.jsonl", "synth000.npy", "synth001.npy"]
    finished = manifest_lines(out)
    assert [r["video_id"] for r in finished] == ["synth000", "synth001"]  # what was done is recorded
    assert before.splitlines()[0] == (out / "manifest.jsonl").read_bytes().splitlines()[0]

    resumed = run_cli("extract-frames", videos, "--out", out, *SMALL)
    assert resumed.code == 0
    assert [r["video_id"] for r in manifest_lines(out)] == ["synth000", "synth001", "synth002"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--num-frames", "4", "--fps", "2"], "emoret: give --num-frames or --fps, not both"),
        ([], "emoret: give video files or directories, or --from FILE"),
    ],
)
def test_usage_errors(run_cli, tmp_path, args, message):
    result = run_cli("extract-frames", "--out", tmp_path / "f", *(args + ([tmp_path] if args else [])))
    assert result.code == 2
    assert stderr_lines(result) == [message]
    assert result.stdout == b""


def test_missing_input_path_is_a_usage_error(run_cli, tmp_path):
    result = run_cli("extract-frames", tmp_path / "nope.mp4", "--out", tmp_path / "f")
    assert result.code == 2
    assert stderr_lines(result) == [f"emoret: {tmp_path / 'nope.mp4'}: no such file or directory"]


def test_same_id_twice_is_a_usage_error(run_cli, videos, tmp_path):
    (tmp_path / "other").mkdir()
    shutil.copy(videos / "synth000.mp4", tmp_path / "other" / "synth000.mp4")
    result = run_cli("extract-frames", videos, tmp_path / "other", "--out", tmp_path / "f", *SMALL)
    assert result.code == 2
    assert "two videos would share the id 'synth000'" in result.stderr
