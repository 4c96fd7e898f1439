"""Small synthetic captioned videos: coloured shapes whose look the captions name.

Each video shows one shape of one colour moving one way, in a scene whose light and
pace come from a mood: a happy scene is bright and quick, a frightening one dark and
creeping, a sad one dim and slow. Captions name the colour, the shape, the motion and
the light, and many name the mood with an emotional word, so that a small model can
learn to retrieve the videos and the emotion words are tied to something visible.
Everything is drawn with numpy and encoded with PyAV (H.264), deterministically for
a seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoret.demo.captions import captions_for
from emoret.demo.encode import encode_all, write_video
from emoret.demo.render import HEIGHT, WIDTH, render_frames
from emoret.demo.scenes import Scene, make_scenes


def make_video(path: str | Path, scene: Scene, width: int = WIDTH, height: int = HEIGHT,
               fps: int | None = None, duration: float | None = None) -> Path:
    """Render and encode one scene (size and timing overridable, e.g. tiny for tests)."""
    return write_video(path, render_frames(scene, width, height, fps, duration), fps or scene.fps)


def make_videos(out_dir: str | Path, n_videos: int, seed: int = 0, width: int = WIDTH, height: int = HEIGHT,
                fps: int | None = None, duration: float | None = None,
                workers: int | None = None) -> tuple[list[Path], list[dict[str, Any]]]:
    """Write ``n_videos`` videos into ``out_dir``; return their paths and caption records.

    Videos are encoded ``workers`` at a time (default: one a core).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scenes = make_scenes(n_videos, seed)
    jobs = [(out_dir / f"{scene.video_id}.mp4", scene, width, height, fps, duration) for scene in scenes]
    paths = encode_all(make_video, jobs, workers)
    records: list[dict[str, Any]] = []
    for scene, path in zip(scenes, paths, strict=True):
        for caption in captions_for(scene, seed):
            records.append({"video": path.name, "caption": caption, "duration": duration or scene.duration,
                            "sen_id": len(records)})
    return paths, records
