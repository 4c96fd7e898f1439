"""The offline demo set: the synthetic videos and captions, the scenes they show, a tiny
random base model, and optionally a held-out test set."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from emoret.atomic import write_bytes_atomic
from emoret.demo.heldout import make_test_set
from emoret.demo.scenes import make_scenes
from emoret.demo.synthetic import make_videos


def make_demo(out_dir: str | Path, n_videos: int = 60, seed: int = 0, test_videos: int = 0) -> dict[str, Path]:
    """The offline demo set: ``OUT/videos/*.mp4``, ``OUT/captions.json``, ``OUT/scenes.json``
    (what each video shows) and ``OUT/base-model/`` (a tiny random CLIP and its tokenizer).

    ``test_videos`` > 0 also writes a held-out test set under ``OUT/test/`` (see
    ``emoret.demo.heldout``); the training set and base model are the same either way,
    and the base model's tokenizer never sees a test caption."""
    from emoret.model.tiny import build_tiny_clip  # torch and transformers: only for the demo model

    out_dir = Path(out_dir)
    videos_dir = out_dir / "videos"
    _, records = make_videos(videos_dir, n_videos, seed)
    captions_path = out_dir / "captions.json"
    write_bytes_atomic(captions_path, (json.dumps(records, indent=1) + "\n").encode())
    scenes_path = out_dir / "scenes.json"
    scenes = [asdict(scene) for scene in make_scenes(n_videos, seed)]
    write_bytes_atomic(scenes_path, (json.dumps(scenes, indent=1) + "\n").encode())
    base_model = Path(build_tiny_clip([r["caption"] for r in records], out_dir / "base-model", seed=seed))
    paths = {"videos": videos_dir, "captions": captions_path, "scenes": scenes_path, "base_model": base_model}
    if test_videos > 0:
        paths.update(make_test_set(out_dir / "test", test_videos, seed, exclude=make_scenes(n_videos, seed)))
    return paths
