"""Decoding: frame sampling, resizing, seeking and every way a file can be bad."""

from __future__ import annotations

import numpy as np
import pytest

from emoret.demo.encode import write_video
from emoret.errors import InputError
from emoret.video.container import VideoError
from emoret.video.decode import decode_video, extract
from emoret.video.frames import load_frames, read_manifest, save_frames
from emoret.video.paths import find_videos
from emoret.video.sampling import Sampling, pick_frames, resample_indices, sample_indices, scaled_size


def numbered_frames(n: int, width: int = 64, height: int = 48):
    """Frame i is grey, left half 8 + 4 (i % 50), right half 8 + 40 (i // 50): its number shows."""
    for i in range(n):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[:, : width // 2] = 8 + 4 * (i % 50)
        frame[:, width // 2 :] = 8 + 40 * (i // 50)
        yield frame


def frame_number(frame: np.ndarray) -> int:
    width = frame.shape[1]
    low = round((float(frame[:, 1 : width // 2 - 2].mean()) - 8) / 4)
    high = round((float(frame[:, width // 2 + 2 : -1].mean()) - 8) / 40)
    return high * 50 + low


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory):
    """40 frames at 20 fps, H.264 with non-reference B-frames (which the reader may skip)."""
    path = tmp_path_factory.mktemp("videos") / "numbered.mp4"
    return write_video(path, numbered_frames(40), fps=20, crf=10,
                                 x264_params="bframes=3:b-adapt=0:b-pyramid=none")


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """150 frames, a keyframe every 10: wide gaps between wanted frames invite seeks."""
    path = tmp_path_factory.mktemp("videos") / "long.mp4"
    return write_video(path, numbered_frames(150, 32, 32), fps=5, crf=0, gop=10)


def test_sample_indices_default_to_the_seeds_linspace():
    # np.linspace(0, n - 1, T).astype(int): the first and the last frame are always taken.
    assert sample_indices(10, 4) == [0, 3, 6, 9]
    assert sample_indices(450, 12) == [0, 40, 81, 122, 163, 204, 244, 285, 326, 367, 408, 449]
    for n, t in [(10, 4), (450, 12), (7, 3), (1000, 8), (3, 5)]:
        assert sample_indices(n, t) == np.linspace(0, n - 1, t).astype(int).tolist()
        assert sample_indices(n, t, "linspace") == sample_indices(n, t)
    assert sample_indices(12, 12) == list(range(12))
    assert sample_indices(0, 12) == []


def test_sample_indices_middle_takes_segment_middles():
    assert sample_indices(10, 4, "middle") == [1, 3, 6, 8]
    assert sample_indices(450, 12, "middle") == [18, 56, 93, 131, 168, 206, 243, 281, 318, 356, 393, 431]
    assert sample_indices(12, 12, "middle") == list(range(12))
    with pytest.raises(ValueError, match="sampling rule"):
        sample_indices(10, 4, "random")
    with pytest.raises(ValueError, match="sampling rule"):
        Sampling(num_frames=4, rule="random")


def test_pick_frames_follows_the_rule():
    stored = np.arange(10)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    assert pick_frames(stored, 4)[:, 0, 0, 0].tolist() == [0, 3, 6, 9]
    assert pick_frames(stored, 4, "middle")[:, 0, 0, 0].tolist() == [1, 3, 6, 8]
    assert pick_frames(stored, 10) is stored


def test_sample_indices_repeat_frames_of_a_short_video():
    indices = sample_indices(3, 5)
    assert len(indices) == 5
    assert indices == sorted(indices) and set(indices) == {0, 1, 2}


def test_resample_indices_keep_the_rate():
    assert resample_indices(30, 15, 6) == [0, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28]
    assert resample_indices(10, 10, 10) == list(range(10))
    assert len(resample_indices(10, 5, 10)) == 20  # upsampling repeats frames


def test_scaled_size():
    assert scaled_size(640, 360, 224, "crop") == (398, 224)
    assert scaled_size(360, 640, 224, "crop") == (224, 398)
    assert scaled_size(640, 360, 224, "squash") == (224, 224)


def test_decode_keeps_exactly_the_sampled_frames(numbered_video):
    import av

    with av.open(str(numbered_video)) as container:
        kinds = [frame.pict_type for frame in container.decode(video=0)]
    assert sum(kind == av.video.frame.PictureType.B for kind in kinds) >= 20
    frames = decode_video(numbered_video, num_frames=6, size=32)
    assert frames.shape == (6, 32, 32, 3) and frames.dtype == np.uint8
    assert [frame_number(f) for f in frames] == sample_indices(40, 6)


def test_fps_sampling(numbered_video):
    result = extract(numbered_video, Sampling(num_frames=None, fps=5, size=16))
    assert result.indices == resample_indices(40, 20, 5) == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]
    assert [frame_number(f) for f in result.frames] == result.indices
    assert (result.fps, result.duration, result.source_frames) == (20.0, 2.0, 40)


def test_short_video_repeats_frames_and_says_so(numbered_video):
    result = extract(numbered_video, Sampling(num_frames=50, size=16))
    assert len(result.frames) == 50
    assert [frame_number(f) for f in result.frames] == sample_indices(40, 50)
    assert result.warnings == ["only 40 frames, fewer than the 50 asked: frames repeated"]


def test_long_gaps_seek_and_still_get_the_right_frames(long_video):
    # At the video's own size (32), so no resize blurs the numbers near the frame's edge.
    result = extract(long_video, Sampling(num_frames=3, size=32))
    assert [frame_number(f) for f in result.frames] == result.indices == sample_indices(150, 3) == [0, 74, 149]
    assert result.seeks >= 1
    middle = extract(long_video, Sampling(num_frames=3, size=32, rule="middle"))
    assert [frame_number(f) for f in middle.frames] == middle.indices == [25, 75, 125]
    assert middle.seeks >= 1


def test_crop_and_squash(tmp_path):
    # Red | green | blue columns (24 | 48 | 24 of 96): a centre crop sees only green,
    # squashing keeps all three.
    frame = np.zeros((48, 96, 3), np.uint8)
    frame[:, :24] = (220, 20, 20)
    frame[:, 24:72] = (20, 220, 20)
    frame[:, 72:] = (20, 20, 220)
    path = write_video(tmp_path / "stripes.mp4", [frame] * 4, fps=4, crf=0)
    crop = decode_video(path, num_frames=1, size=24, resize="crop")[0].astype(int)
    squash = decode_video(path, num_frames=1, size=24, resize="squash")[0].astype(int)
    assert crop.shape == squash.shape == (24, 24, 3)
    assert crop[:, 2:-2, 1].min() > 150 and crop[:, 2:-2, [0, 2]].max() < 100
    assert squash[:, 1, 0] .min() > 150 and squash[:, 12, 1].min() > 150 and squash[:, -2, 2].min() > 150


def test_portrait_crop_keeps_the_middle(tmp_path):
    frame = np.zeros((96, 48, 3), np.uint8)
    frame[:24], frame[24:72], frame[72:] = (220, 20, 20), (20, 220, 20), (20, 20, 220)
    path = write_video(tmp_path / "portrait.mp4", [frame] * 2, fps=2, crf=0)
    result = extract(path, Sampling(num_frames=1, size=24))
    assert (result.width, result.height) == (48, 96)
    assert result.frames[0, 2:-2, :, 1].min() > 150


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, numbered_video):
    import av

    root = tmp_path_factory.mktemp("bad")
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n")
    data = numbered_video.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    corrupt[:64] = bytes(range(64))  # the header is gone
    (root / "corrupt.mp4").write_bytes(bytes(corrupt))
    with av.open(str(root / "audio.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        samples = np.zeros((1, 1024), np.float32)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return root


@pytest.mark.parametrize(
    "name, message",
    [
        ("empty.mp4", "empty file (0 bytes)"),
        ("text.mp4", "not a video file, or a truncated or corrupt one"),
        ("truncated.mp4", "not a video file, or a truncated or corrupt one"),
        ("corrupt.mp4", "not a video file, or a truncated or corrupt one"),
        ("audio.mp4", "no video stream (audio only)"),
        ("missing.mp4", "no such file"),
    ],
)
def test_bad_files_raise_one_line_video_errors(bad_files, name, message):
    with pytest.raises(VideoError) as caught:
        decode_video(bad_files / name, num_frames=2, size=16)
    assert str(caught.value) == message


def test_unreadable_file(tmp_path, numbered_video, monkeypatch):
    path = tmp_path / "secret.mp4"
    path.write_bytes(numbered_video.read_bytes())
    path.chmod(0)
    if os_is_root():  # root reads anything: make the read itself refuse
        import emoret.video.container

        def refuse(_path):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(emoret.video.container, "_read_first_byte", refuse)
    with pytest.raises(VideoError, match="^permission denied$"):
        decode_video(path, num_frames=2, size=16)


def os_is_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def test_find_videos_walks_directories(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "a" / ".hidden").mkdir()
    for name in ["a/x.mp4", "a/deep/y.MKV", "a/notes.txt", "a/.tmp.mp4", "a/.hidden/z.mp4", "b.avi"]:
        (tmp_path / name).write_bytes(b"0")
    found = find_videos([tmp_path / "a", tmp_path / "a" / "x.mp4", tmp_path / "a" / "notes.txt"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/deep/y.MKV", "a/x.mp4", "a/notes.txt"]
    with pytest.raises(InputError, match="no such file or directory"):
        find_videos([tmp_path / "nope"])


def test_frame_store_round_trip_and_errors(tmp_path):
    frames = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    save_frames(tmp_path, "v1", frames)
    assert np.array_equal(load_frames(tmp_path, "v1"), frames)
    assert [p.name for p in tmp_path.iterdir()] == ["v1.npy"]  # no temporary left behind
    with pytest.raises(InputError, match="no frames for video 'v2'"):
        load_frames(tmp_path, "v2")
    np.save(tmp_path / "bad.npy", np.zeros((3, 3), np.float32))
    with pytest.raises(InputError, match="expected uint8"):
        load_frames(tmp_path, "bad")
    with pytest.raises(InputError, match="no frame manifest"):
        read_manifest(tmp_path)


def test_display_rotation_is_applied(tmp_path):
    # A phone video: stored landscape with its left half bright, shown turned 90 degrees
    # counter-clockwise, so the bright half is at the bottom (as ffmpeg shows it).
    import av

    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)
        frame = np.zeros((32, 64, 3), np.uint8)
        frame[:, :32] = 200
        for packet in list(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24"))) + list(stream.encode(None)):
            container.mux(packet)
    result = extract(path, Sampling(num_frames=1, size=16, resize="squash"))
    assert (result.width, result.height) == (32, 64)
    shown = result.frames[0, :, :, 0].astype(int)
    assert shown[10:].min() > 150 and shown[:6].max() < 50
