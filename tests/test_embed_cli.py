import numpy as np
import orjson
import pytest
from retrieval_data import VIDEO_IDS, build_frames, caption_records

from emoret.embedding.files import load_embeddings
from emoret.embedding.sources import parse_shard, shard_bounds

# Tests that compare numbers run fp32: `--precision auto` picks bf16 on a CPU that has it.
FP32 = ("--precision", "fp32")


def test_embed_frames_writes_normalised_rows_in_manifest_order(env, run_cli, tmp_path):
    result = run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--out", tmp_path / "v", *FP32)
    assert result.code == 0, result.stderr
    assert result.stdout == b""  # data goes to files; stdout stays clean
    loaded = load_embeddings(tmp_path / "v")
    assert loaded.vectors.shape == (6, env.model.embed_dim)
    assert np.allclose(np.linalg.norm(loaded.vectors, axis=1), 1.0, atol=1e-5)
    assert [r["video_id"] for r in loaded.records] == VIDEO_IDS
    assert loaded.meta["fingerprint"] == env.fingerprint and loaded.meta["kind"] == "videos"
    # Same vectors as the library computes (the test fixture's embeddings).
    assert np.allclose(loaded.vectors, load_embeddings(env.videos).vectors, atol=1e-5)


def test_frame_store_errors_are_skipped_not_fatal(env, run_cli, tmp_path):
    frames = build_frames(tmp_path, broken="clip2")
    result = run_cli("embed", "--model", env.model_dir, "--frames", frames, "--out", tmp_path / "v")
    assert result.code == 0, result.stderr
    assert "clip2" in result.stderr
    assert [r["video_id"] for r in load_embeddings(tmp_path / "v").records] == [v for v in VIDEO_IDS if v != "clip2"]


def test_shards_concatenate_to_the_whole(env, run_cli, tmp_path):
    parts = []
    for shard in ("0/3", "1/3", "2/3"):
        out = tmp_path / f"part{shard[0]}"
        assert run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--out", out, "--shard", shard,
                       *FP32).code == 0
        parts.append(load_embeddings(out))
    whole = load_embeddings(env.videos)
    assert np.allclose(np.concatenate([p.vectors for p in parts]), whole.vectors, atol=1e-5)
    assert [r["video_id"] for p in parts for r in p.records] == VIDEO_IDS


def test_shard_bounds_cover_every_item_once():
    for total in (0, 1, 7, 100):
        for count in (1, 3, 8):
            spans = [shard_bounds(total, (i, count)) for i in range(count)]
            assert spans[0][0] == 0 and spans[-1][1] == total
            assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    with pytest.raises(ValueError):
        parse_shard("3/3")
    with pytest.raises(ValueError):
        parse_shard("x")


def test_embed_texts_uses_emotions_unless_told_not_to(env, run_cli, tmp_path):
    with_emotion = run_cli("embed", "--model", env.model_dir, "--texts", env.captions, "--out", tmp_path / "t", *FP32)
    assert with_emotion.code == 0, with_emotion.stderr
    plain = run_cli("embed", "--model", env.model_dir, "--texts", "-", "--no-emotion", "--out", tmp_path / "p", *FP32,
                    stdin=env.captions.read_bytes())
    assert plain.code == 0, plain.stderr
    a, b = load_embeddings(tmp_path / "t"), load_embeddings(tmp_path / "p")
    assert a.records == caption_records() and a.meta["emotion"] is True and b.meta["emotion"] is False
    changed = ~np.isclose(a.vectors, b.vectors, atol=1e-6).all(axis=1)
    # The emotion table moves exactly the captions whose NRC counts are non-zero.
    from emoret.text.emotions import record_emotion_vector

    has_counts = np.array([any(record_emotion_vector(r)) for r in a.records])
    assert has_counts.any() and (~has_counts).any()
    assert (changed == has_counts).all()


def test_embed_bad_usage_is_one_line_exit_2(env, run_cli, tmp_path):
    both = run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--texts", env.captions, "--out", tmp_path / "x")
    assert both.code == 2 and both.stderr.count("\n") == 1 and "one of" in both.stderr
    missing = run_cli("embed", "--model", tmp_path / "nope", "--frames", env.frames, "--out", tmp_path / "x")
    assert missing.code == 2 and "Traceback" not in missing.stderr and "nope" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(orjson.dumps({"video_id": "a", "caption": "ok"}) + b"\n" + b'{"video_id": "b"}\n')
    no_caption = run_cli("embed", "--model", env.model_dir, "--texts", bad, "--out", tmp_path / "x")
    assert no_caption.code == 2 and f"{bad}:2" in no_caption.stderr
    shard = run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--out", tmp_path / "x", "--shard", "5/2")
    assert shard.code == 2 and "--shard" in shard.stderr
    assert not (tmp_path / "x.npy").exists()


def small_videos(directory, count: int, seed: int, duration: float, broken: bool = True):
    """``count`` tiny synthetic videos in ``directory``, and a broken.mp4 that is not a video."""
    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_video

    directory.mkdir()
    for scene in make_scenes(count, seed=seed):
        make_video(directory / f"{scene.video_id}.mp4", scene, width=64, height=48, fps=8, duration=duration)
    if broken:
        (directory / "broken.mp4").write_bytes(b"not a video at all")
    return directory


def test_embed_video_files_reports_a_broken_one_and_exits_1(env, run_cli, tmp_path):
    videos = small_videos(tmp_path / "videos", 2, seed=0, duration=0.5)
    (videos / "dangling.mp4").symlink_to(tmp_path / "gone.mp4")
    result = run_cli("embed", "--model", env.model_dir, videos, "--out", tmp_path / "v")
    assert result.code == 1
    assert "broken.mp4" in result.stderr and "dangling.mp4" in result.stderr and "Traceback" not in result.stderr
    loaded = load_embeddings(tmp_path / "v")
    assert len(loaded.records) == 2 and all(r["path"].endswith(".mp4") and r["duration"] > 0 for r in loaded.records)


def test_sampling_rule_picks_the_frames_and_is_recorded(env, run_cli, tmp_path):
    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_video
    from emoret.embedding import runner as embed
    from emoret.embedding import sources

    videos = tmp_path / "videos"
    videos.mkdir()
    for scene in make_scenes(2, seed=0):  # 16 frames a video, the model takes 4
        make_video(videos / f"{scene.video_id}.mp4", scene, width=64, height=48, fps=8, duration=2.0)
    made = {}
    for rule in ("linspace", "middle"):
        args = ["--sampling", rule] if rule == "middle" else []
        result = run_cli("embed", "--model", env.model_dir, videos, "--out", tmp_path / rule, *args, *FP32)
        assert result.code == 0, result.stderr
        made[rule] = load_embeddings(tmp_path / rule)
        assert made[rule].meta["sampling"] == rule
        expected, _ = embed.embed_videos(env.model, sources.items_from_files([videos], 4, 64, rule), rule=rule,
                                         precision="fp32")
        np.testing.assert_allclose(made[rule].vectors, expected, atol=1e-5)
    assert not np.allclose(made["linspace"].vectors, made["middle"].vectors, atol=1e-4)

    # From a frame store of 3 frames a video, the rule picks the model's 4 of them.
    default = run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--out", tmp_path / "f1", *FP32)
    middle = run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--out", tmp_path / "f2",
                     "--sampling", "middle", *FP32)
    assert default.code == middle.code == 0
    np.testing.assert_allclose(load_embeddings(tmp_path / "f1").vectors, load_embeddings(env.videos).vectors, atol=1e-5)
    assert not np.allclose(load_embeddings(tmp_path / "f1").vectors, load_embeddings(tmp_path / "f2").vectors, atol=1e-4)

    texts = run_cli("embed", "--model", env.model_dir, "--texts", env.captions, "--out", tmp_path / "t",
                    "--sampling", "middle")
    assert texts.code == 2 and "--sampling applies to videos only" in texts.stderr


def test_decode_workers_give_the_same_embeddings_and_failures_as_the_thread(env, run_cli, tmp_path):
    import multiprocessing

    from emoret.embedding import runner as embed
    from emoret.embedding import sources

    videos = small_videos(tmp_path / "videos", 5, seed=1, duration=1.0)
    items = sources.items_from_files([videos], 4, 64)
    runs = {}
    for workers in (0, 2):
        failures: list[str] = []
        runs[workers] = embed.embed_videos(env.model, items, batch_size=2, decode_workers=workers, precision="fp32",
                                           on_failure=lambda failure, seen=failures: seen.append(failure.record["video"]))
        assert failures == ["broken.mp4"]
    np.testing.assert_allclose(runs[2][0], runs[0][0], atol=1e-6)
    assert runs[2][1] == runs[0][1] and all(record["duration"] > 0 for record in runs[2][1])
    assert not multiprocessing.active_children()  # the pool's workers are gone
    result = run_cli("embed", "--model", env.model_dir, videos, "--out", tmp_path / "v", "--decode-workers", "2",
                     *FP32)
    assert result.code == 1 and "broken.mp4" in result.stderr
    np.testing.assert_allclose(load_embeddings(tmp_path / "v").vectors, runs[0][0], atol=1e-6)
