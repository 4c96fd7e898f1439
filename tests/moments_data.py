"""Long synthetic videos and a tiny model trained on their clips, for the moment-search tests.

Nine scenes, one a mood, are rendered small; a tiny CLIP is trained on their frames
with their captions (through ``emoret train``, a few seconds); the same scenes are put
back to back, three a long video, at known times.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emoret.demo.captions import captions_for
from emoret.demo.long import make_long_videos
from emoret.demo.render import render_frames
from emoret.demo.scenes import make_scenes

SEED = 3
WIDTH, HEIGHT, FPS = 64, 48, 8


class MomentsEnv:
    def __init__(self, root: Path, run_cli):
        from emoret.model.tiny import build_tiny_clip
        from emoret.video.frames import save_frames, write_manifest

        self.root = root
        scenes = make_scenes(9, seed=SEED)
        frames_dir = root / "train-frames"
        records, manifest = [], []
        for scene in scenes:
            rendered = np.stack(list(render_frames(scene, WIDTH, HEIGHT, FPS)))
            picked = rendered[np.linspace(0, len(rendered) - 1, 4).astype(int)][:, :, 8:56]  # 48x48 centre
            save_frames(frames_dir, scene.video_id, np.ascontiguousarray(picked))
            manifest.append({"video_id": scene.video_id, "n_frames": 4})
            records += [{"video_id": scene.video_id, "caption": c} for c in captions_for(scene, SEED)]
        write_manifest(frames_dir, manifest)
        captions = root / "train-captions.jsonl"
        captions.write_text("".join(json.dumps(r) + "\n" for r in records))
        base = build_tiny_clip([r["caption"] for r in records], root / "base", seed=0)
        self.model = root / "model"
        result = run_cli(
            "train", "--model", base, "--captions", captions, "--frames", frames_dir, "--out", self.model,
            "--video-encoder", "vip", "--num-frames", "4", "--epochs", "80", "--batch-size", "9",
            "--lr", "3e-3", "--lr-new", "2e-2", "--warmup", "0.05", "--weight-decay", "0.01",
            "--save-every", "100000", "--seed", "0", "--threads", "1",
        )
        assert result.code == 0, result.stderr
        self.long_dir = root / "long"
        self.paths, self.captions = make_long_videos(
            self.long_dir, scenes, clips_per_video=3, seed=SEED, width=WIDTH, height=HEIGHT, fps=FPS, workers=1)


_CACHE: dict[str, MomentsEnv] = {}


@pytest.fixture
def moments_env(tmp_path_factory, run_cli) -> MomentsEnv:
    if "env" not in _CACHE:
        _CACHE["env"] = MomentsEnv(tmp_path_factory.mktemp("moments"), run_cli)
    return _CACHE["env"]


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0
