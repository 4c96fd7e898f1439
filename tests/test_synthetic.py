"""Synthetic videos: deterministic, captioned by what they show, emotions tied to the picture."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emoret.demo import synthetic
from emoret.demo.captions import captions_for
from emoret.demo.encode import write_video
from emoret.demo.render import render_frames
from emoret.demo.scenes import MOODS, SHAPES, Scene, make_scenes
from emoret.text.emotions import nrc_counts
from emoret.video.decode import extract
from emoret.video.sampling import Sampling
from emoret.video.yuv import rgb_to_yuv420p

ROOT = Path(__file__).resolve().parents[1]


def test_scenes_are_distinct_deterministic_and_cover_every_mood():
    scenes = make_scenes(60, seed=0)
    assert scenes == make_scenes(60, seed=0)
    assert scenes != make_scenes(60, seed=1)
    assert len({(s.mood, s.colour, s.shape, s.motion) for s in scenes}) == 60
    assert {s.mood for s in scenes} == {m.name for m in MOODS}
    assert len({s.video_id for s in scenes}) == 60
    for scene in scenes:
        assert 2 <= scene.duration <= 4 and 15 <= scene.fps <= 30


def test_captions_name_what_is_shown():
    for scene in make_scenes(27, seed=0):
        captions = captions_for(scene, seed=0)
        assert len(captions) >= 4 and len(set(captions)) == len(captions)
        assert captions == captions_for(scene, seed=0)
        words = set(SHAPES[scene.shape])
        for caption in captions:
            assert scene.colour in caption
            assert words & set(caption.replace(",", " ").replace(":", " ").split())
        mood = scene.mood_spec()
        emotional = [c for c in captions if any(a in c.split() or a + "," in c for a in mood.adjectives)]
        if mood.adjectives:
            assert len(emotional) >= 2, captions
        else:
            assert emotional == []


def test_emotional_words_count_for_their_emotion():
    # The words the captions use carry the NRC emotion of their mood (or the rescue keywords).
    for mood in MOODS:
        if mood.name == "neutral":
            continue
        hits = [a for a in mood.adjectives if nrc_counts(a).get(mood.name, 0) > 0]
        assert hits or mood.name in {"fear", "sadness", "surprise"}, mood.name


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    paths, records = synthetic.make_videos(out / "a", 9, seed=5, width=64, height=48, fps=10, duration=1.0,
                                           workers=1)
    return out, paths, records


def test_videos_decode_with_the_asked_shape(tiny_set):
    _, paths, records = tiny_set
    assert [p.name for p in paths] == [f"synth{i:03d}.mp4" for i in range(9)]
    assert {r["video"] for r in records} == {p.name for p in paths}
    for path in paths:
        result = extract(path, Sampling(num_frames=4, size=32))
        assert (result.width, result.height, result.fps, result.source_frames) == (64, 48, 10.0, 10)


def decoded_frames(paths: list[Path]) -> dict[str, str]:
    """Each video's name and a digest of its decoded pictures (YUV planes, as stored): what
    extract-frames and so the demo's figures see. The bytes on disk may differ between x264
    builds; these must not."""
    import av

    videos = {}
    for path in paths:
        with av.open(str(path)) as container:
            planes = b"".join(frame.to_ndarray(format="yuv420p").tobytes() for frame in container.decode(video=0))
        videos[path.name] = hashlib.sha256(planes).hexdigest()
    return videos


def test_same_seed_same_frames_in_forked_workers_and_a_fresh_interpreter(tiny_set, tmp_path):
    _, paths, records = tiny_set
    expected = decoded_frames(paths)
    forked, forked_records = synthetic.make_videos(tmp_path / "forked", 9, seed=5, width=64, height=48, fps=10,
                                                   duration=1.0, workers=2)
    assert forked_records == records
    assert decoded_frames(forked) == expected
    script = ("import sys; from emoret.demo import synthetic; "
              "synthetic.make_videos(sys.argv[1], 9, seed=5, width=64, height=48, fps=10, duration=1.0, workers=1)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "fresh")], check=True, env=env, timeout=120)
    fresh = sorted((tmp_path / "fresh").glob("*.mp4"))
    assert decoded_frames(fresh) == expected


def test_x264_plain_c_path_gives_the_same_frames(tiny_set, tmp_path):
    # asm=0: x264 without its SIMD code, standing in for a CPU with other instructions than this one.
    _, paths, _ = tiny_set
    if b"x264" not in paths[0].read_bytes():
        pytest.skip("this PyAV has no libx264")
    for scene, path in zip(make_scenes(9, seed=5), paths, strict=True):
        plain = write_video(tmp_path / path.name, render_frames(scene, 64, 48, 10, 1.0), 10,
                                      x264_params="asm=0")
        assert decoded_frames([plain]) == decoded_frames([path])


def test_encoder_is_told_one_thread(tiny_set):
    # x264 writes its settings into the stream; several threads make its choices depend on timing.
    _, paths, _ = tiny_set
    settings = re.search(rb"options: ([^\x00]*)", paths[0].read_bytes())
    if settings is None:
        pytest.skip("this PyAV has no libx264")
    options = dict(item.split("=", 1) for item in settings.group(1).decode().split())
    assert (options["threads"], options["lookahead_threads"], options["sliced_threads"]) == ("1", "1", "0")


def test_yuv_conversion_is_bt601_limited_range():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:2] = 255  # white over black
    rgb[2:, :2] = (255, 0, 0)
    planes = rgb_to_yuv420p(rgb)
    assert planes.shape == (6, 6)
    y, u, v = planes[:4], planes[4:5].reshape(-1)[:6].reshape(2, 3), planes[5:].reshape(-1)[:6].reshape(2, 3)
    assert (y[:2] == 235).all() and (y[2:, 2:] == 16).all() and (y[2:, :2] == 82).all()
    assert (u[0] == 128).all() and (v[0] == 128).all()  # grey levels carry no colour
    assert (u[1, 0], v[1, 0]) == (90, 240)  # pure red
    with pytest.raises(ValueError, match="even"):
        rgb_to_yuv420p(np.zeros((3, 4, 3), np.uint8))


def test_decoded_frames_keep_the_drawn_colours(tiny_set):
    _, paths, _ = tiny_set
    scene = make_scenes(9, seed=5)[0]
    drawn = np.stack(list(render_frames(scene, 64, 48, 10, 1.0))).astype(int)
    import av

    with av.open(str(paths[0])) as container:
        decoded = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]).astype(int)
    assert decoded.shape == drawn.shape
    assert np.abs(decoded - drawn).mean() < 4


def test_moods_look_different():
    # Mean brightness of the first frame: happy scenes are bright, frightening ones dark.
    scenes = {s.mood: s for s in make_scenes(9, seed=0)}

    def brightness(mood: str) -> float:
        return float(next(render_frames(scenes[mood], 64, 48, 10, 1.0)).mean())

    assert brightness("joy") > brightness("neutral") > brightness("sadness") > brightness("fear")
    frame = next(render_frames(scenes["anger"], 64, 48, 10, 1.0)).astype(int)
    assert frame[..., 0].mean() > 2 * frame[..., 1].mean()  # red light


def test_shapes_move_the_way_captions_say():
    scene = Scene("x", "neutral", "white", "square", "right", 2.0, 10, 0.0)
    frames = list(render_frames(scene, 96, 48))
    columns = [np.nonzero(f[..., 2].max(axis=0) > 200)[0].mean() for f in (frames[0], frames[-1])]
    assert columns[1] > columns[0] + 30


def test_make_demo_writes_videos_captions_and_a_loadable_base_model(tmp_path, capsys):
    out = tmp_path / "demo"
    spec = importlib.util.spec_from_file_location("make_demo", ROOT / "examples" / "make_demo.py")
    make_demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_demo)
    assert make_demo.main([str(out), "--videos", "2", "--seed", "1"]) == 0
    assert capsys.readouterr().out == ""  # messages go to stderr
    captions = json.loads((out / "captions.json").read_text())
    assert {c["video"] for c in captions} == {"synth000.mp4", "synth001.mp4"}
    assert all(set(c) == {"video", "caption", "duration", "sen_id"} for c in captions)
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["synth000.mp4", "synth001.mp4"]
    result = extract(out / "videos" / "synth000.mp4", Sampling(num_frames=2, size=32))
    assert (result.width, result.height) == (320, 240)
    assert 15 <= result.fps <= 30 and 2 <= result.duration <= 4

    from transformers import AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(out / "base-model")
    tokenizer = AutoTokenizer.from_pretrained(out / "base-model")
    assert tokenizer(captions[0]["caption"])["input_ids"][0] == tokenizer.bos_token_id
    assert model.config.vision_config.image_size == 64
