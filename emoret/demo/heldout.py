"""A held-out test set for the synthetic demo: new videos, and emotion words never trained on.

The training set is the ordinary demo set (``make.make_demo``): its captions use the
mood adjectives of ``scenes.MOODS``. The test set here has

- videos never trained on: other ids, and no (mood, colour, shape, motion) of training;
- scenes in groups that share colour, shape and motion and differ only in mood, so a
  caption that names the shape, colour and motion leaves the mood to decide;
- emotional captions whose only mood cue is a held-out word: one in no training caption
  (so a tokenizer built on the training captions does not know it) that the NRC lexicon
  files under the mood's emotion, and no mood verb or light word beside it.

The lexicon is then the only way to know what the held-out word means, which is the case
emoret's emotion embedding exists for. Test caption records carry ``emotion``: 1 for the
held-out emotional captions and 0 for the others (known by construction, not by ``filter``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from emoret.atomic import write_bytes_atomic
from emoret.demo.captions import stable_hash, with_articles
from emoret.demo.encode import encode_all
from emoret.demo.scenes import COLOURS, MOODS, MOTIONS, SHAPES, Scene, drawn_scene
from emoret.demo.synthetic import make_video

# Emotional words for test captions only. Each is in the NRC lexicon under its mood's
# emotion and no other of the eight (tests check this with emoret's NRC counting), and
# none is in a mood's training adjectives.
HELD_OUT_ADJECTIVES: dict[str, tuple[str, ...]] = {
    "joy": ("joyous", "elated", "blissful"),
    "fear": ("afraid", "horrified"),
    "sadness": ("dreary", "weeping"),
    "anger": ("irate", "fuming", "cranky"),
    "surprise": ("unforeseen",),
    "disgust": ("filthy", "grimy", "distasteful"),
    "trust": ("reliable", "faithful"),
    "anticipation": ("ready", "expecting"),
}

MOODS_PER_GROUP = 4  # videos that share colour, shape and motion in the test set
TEST_PREFIX = "test"


def held_out_words() -> set[str]:
    return {word for words in HELD_OUT_ADJECTIVES.values() for word in words}


def make_test_scenes(n_videos: int, seed: int = 0, exclude: Iterable[Scene] = (),
                     prefix: str = TEST_PREFIX) -> list[Scene]:
    """``n_videos`` scenes in groups of ``MOODS_PER_GROUP`` moods sharing colour, shape and
    motion; no (mood, colour, shape, motion) of ``exclude`` and no repeats."""
    # Its own stream: the training scenes of the same seed are drawn from another.
    rng = np.random.default_rng([seed, 1_000_003])
    taken = {(s.mood, s.colour, s.shape, s.motion) for s in exclude}
    combos = [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS]
    order = rng.permutation(len(combos))
    width = max(3, len(str(n_videos - 1)))
    scenes: list[Scene] = []
    for combo_index in order:
        if len(scenes) >= n_videos:
            break
        colour, shape, motion = combos[combo_index]
        free = [mood.name for mood in MOODS if (mood.name, colour, shape, motion) not in taken]
        if len(free) < min(MOODS_PER_GROUP, n_videos - len(scenes)):
            continue
        picked = rng.choice(len(free), size=min(MOODS_PER_GROUP, n_videos - len(scenes)), replace=False)
        for mood_index in sorted(int(i) for i in picked):
            scenes.append(drawn_scene(rng, f"{prefix}{len(scenes):0{width}d}", free[mood_index], colour, shape, motion))
    if len(scenes) < n_videos:
        raise ValueError(f"cannot draw {n_videos} test scenes apart from the {len(taken)} excluded")
    return scenes


def heldout_captions_for(scene: Scene, seed: int = 0) -> list[tuple[str, bool]]:
    """(caption, emotional) pairs: two naming the light, and for a mood with words three
    whose only mood cue is a held-out word (a neutral scene gets three plain ones)."""
    rng = np.random.default_rng([seed, 7, stable_hash(scene.video_id)])
    mood = scene.mood_spec()
    colour, motion = scene.colour, MOTIONS[scene.motion]
    noun = lambda: str(rng.choice(SHAPES[scene.shape]))  # noqa: E731
    pairs = [
        (f"a {colour} {noun()} {motion} on a {mood.light} background", False),
        (f"a {mood.light} scene with a {colour} {noun()} that {motion}", False),
    ]
    words = HELD_OUT_ADJECTIVES.get(scene.mood, ())
    if words:
        word = lambda: str(rng.choice(words))  # noqa: E731
        pairs += [
            (f"a {word()} {colour} {noun()} {motion}", True),
            (f"the {colour} {noun()} {motion}, it looks {word()}", True),
            (f"something {word()}: a {noun()} in {colour} that {motion}", True),
        ]
    else:
        pairs += [
            (f"a {colour} {noun()} {motion}", False),
            (f"the {colour} {noun()} {motion}", False),
            (f"a {noun()} coloured {colour} that {motion}", False),
        ]
    return [(with_articles(text), emotional) for text, emotional in pairs]


def make_test_set(out_dir: str | Path, n_videos: int, seed: int = 0, exclude: Iterable[Scene] = (),
                  workers: int | None = None) -> dict[str, Path]:
    """``OUT/videos/*.mp4``, ``OUT/captions.json`` (with ``emotion`` 0/1) and ``OUT/scenes.json``."""
    out_dir = Path(out_dir)
    videos_dir = out_dir / "videos"
    videos_dir.mkdir(parents=True, exist_ok=True)
    scenes = make_test_scenes(n_videos, seed, exclude)
    jobs = [(videos_dir / f"{scene.video_id}.mp4", scene) for scene in scenes]
    encode_all(make_video, jobs, workers)
    records: list[dict[str, Any]] = []
    for scene in scenes:
        for caption, emotional in heldout_captions_for(scene, seed):
            records.append({"video": f"{scene.video_id}.mp4", "caption": caption, "duration": scene.duration,
                            "sen_id": len(records), "emotion": int(emotional)})
    captions_path = out_dir / "captions.json"
    write_bytes_atomic(captions_path, (json.dumps(records, indent=1) + "\n").encode())
    scenes_path = out_dir / "scenes.json"
    write_bytes_atomic(scenes_path, (json.dumps([asdict(s) for s in scenes], indent=1) + "\n").encode())
    return {"test_videos": videos_dir, "test_captions": captions_path, "test_scenes": scenes_path}
