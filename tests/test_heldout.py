"""The held-out synthetic test set: unseen videos, and emotion words no training caption uses."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from emoret.demo import heldout
from emoret.demo.captions import captions_for
from emoret.demo.scenes import MOODS, MOTIONS, make_scenes
from emoret.text.emotions import EMOTIONS, nrc_counts

ROOT = Path(__file__).resolve().parents[1]


def _words(caption: str) -> set[str]:
    return set(caption.replace(",", " ").replace(":", " ").split())


def test_held_out_words_carry_their_moods_nrc_emotion_and_no_other():
    for mood, words in heldout.HELD_OUT_ADJECTIVES.items():
        assert words, mood
        for word in words:
            counts = nrc_counts(word)
            assert [e for e in EMOTIONS if counts[e]] == [mood], (mood, word, counts)
            # Inside a test caption too, counted as annotate counts it.
            caption = f"a {word} red ball moves to the left"
            assert nrc_counts(caption)[mood] == 1


def test_no_held_out_word_in_any_training_caption():
    held = heldout.held_out_words()
    assert not held & {a for mood in MOODS for a in mood.adjectives}
    for seed in (0, 1, 2):
        for scene in make_scenes(200, seed=seed):
            for caption in captions_for(scene, seed):
                assert not _words(caption) & held, caption


def test_test_scenes_are_never_training_scenes_and_differ_only_in_mood_within_a_group():
    train = make_scenes(60, seed=0)
    test = heldout.make_test_scenes(60, seed=0, exclude=train)
    assert test == heldout.make_test_scenes(60, seed=0, exclude=train)
    assert len(test) == 60 and len({s.video_id for s in test}) == 60
    assert not {s.video_id for s in test} & {s.video_id for s in train}
    quads = lambda scenes: {(s.mood, s.colour, s.shape, s.motion) for s in scenes}  # noqa: E731
    assert len(quads(test)) == 60 and not quads(test) & quads(train)
    groups: dict[tuple[str, str, str], list[str]] = {}
    for scene in test:
        groups.setdefault((scene.colour, scene.shape, scene.motion), []).append(scene.mood)
    assert all(len(moods) == heldout.MOODS_PER_GROUP == len(set(moods)) for moods in groups.values())


def test_emotional_test_captions_carry_their_mood_only_in_the_held_out_word():
    # Mood verbs that are also a plain motion ("bounces up and down") do not count.
    plain_motion = {w for phrase in MOTIONS.values() for w in phrase.split()}
    training_cues = {a for mood in MOODS for a in mood.adjectives + mood.verbs} - plain_motion
    held = heldout.held_out_words()
    for scene in heldout.make_test_scenes(36, seed=3):
        pairs = heldout.heldout_captions_for(scene, seed=3)
        emotional = [caption for caption, flag in pairs if flag]
        assert len(emotional) == (3 if scene.mood != "neutral" else 0)
        for caption in emotional:
            words = _words(caption)
            assert words & set(heldout.HELD_OUT_ADJECTIVES[scene.mood]), caption
            assert not words & training_cues, caption
            assert scene.mood_spec().light not in caption
        for caption, flag in pairs:
            if not flag:
                assert not _words(caption) & held


def test_make_demo_split_writes_a_disjoint_test_set_and_keeps_the_training_set(tmp_path):
    spec = importlib.util.spec_from_file_location("make_demo", ROOT / "examples" / "make_demo.py")
    make_demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_demo)
    plain, split = tmp_path / "plain", tmp_path / "split"
    assert make_demo.main([str(plain), "--videos", "2", "--seed", "4"]) == 0
    assert make_demo.main([str(split), "--videos", "2", "--seed", "4", "--split", "--test-videos", "4"]) == 0
    for name in ("captions.json", "scenes.json", "base-model/tokenizer.json"):
        assert (plain / name).read_bytes() == (split / name).read_bytes(), name
    assert not (plain / "test").exists()

    train_records = json.loads((split / "captions.json").read_text())
    test_records = json.loads((split / "test" / "captions.json").read_text())
    train_videos = {p.name for p in (split / "videos").iterdir()}
    test_videos = {p.name for p in (split / "test" / "videos").iterdir()}
    assert len(test_videos) == 4 and not train_videos & test_videos
    assert {r["video"] for r in test_records} == test_videos
    assert not {r["video"] for r in train_records} & test_videos
    held = heldout.held_out_words()
    assert not any(_words(r["caption"]) & held for r in train_records)
    flagged = [r for r in test_records if r["emotion"] == 1]
    assert flagged and all(_words(r["caption"]) & held for r in flagged)
    # The base model's tokenizer learnt no held-out word: only the lexicon knows them.
    vocab = json.loads((split / "base-model" / "tokenizer.json").read_text())["model"]["vocab"]
    assert not held & set(vocab)
