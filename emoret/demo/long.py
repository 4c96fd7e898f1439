"""Long videos: the synthetic scenes back to back as clips at known times, each clip's
captions timed to it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from emoret.atomic import write_bytes_atomic
from emoret.demo.captions import captions_for
from emoret.demo.encode import encode_all, write_video
from emoret.demo.render import HEIGHT, WIDTH, render_frames
from emoret.demo.scenes import Scene, make_scenes

LONG_FPS = 24


@dataclass(frozen=True)
class Clip:
    """One scene inside a long video, and when it is shown (seconds)."""

    video_id: str  # the long video's id
    scene: Scene
    start: float
    end: float


def long_layout(scenes: list[Scene], clips_per_video: int, seed: int = 0, prefix: str = "long",
                fps: int = LONG_FPS) -> list[list[Clip]]:
    """The scenes shuffled into long videos of ``clips_per_video`` clips, back to back.

    Neighbouring clips never share a mood, so every clip starts with a visible cut.
    Times fall on frame boundaries at ``fps``.
    """
    rng = np.random.default_rng([seed, 7])
    order = [scenes[i] for i in rng.permutation(len(scenes))]
    for i in range(1, len(order)):
        if order[i].mood == order[i - 1].mood:
            swap = next((j for j in range(i + 1, len(order)) if order[j].mood != order[i - 1].mood), None)
            if swap is not None:
                order[i], order[swap] = order[swap], order[i]
    videos = []
    width = max(3, len(str(max(0, math.ceil(len(order) / clips_per_video) - 1))))
    for number, first in enumerate(range(0, len(order), clips_per_video)):
        video_id = f"{prefix}{number:0{width}d}"
        clips, frame = [], 0
        for scene in order[first : first + clips_per_video]:
            n_frames = max(1, round(scene.duration * fps))
            clips.append(Clip(video_id, scene, round(frame / fps, 3), round((frame + n_frames) / fps, 3)))
            frame += n_frames
        videos.append(clips)
    return videos


def render_long(clips: list[Clip], width: int = WIDTH, height: int = HEIGHT, fps: int = LONG_FPS) -> Iterator[np.ndarray]:
    for clip in clips:
        yield from render_frames(clip.scene, width, height, fps, clip.end - clip.start)


def _make_long_video(path: Path, clips: list[Clip], width: int, height: int, fps: int) -> Path:
    return write_video(path, render_long(clips, width, height, fps), fps)


def make_long_videos(out_dir: str | Path, scenes: list[Scene], clips_per_video: int = 10, seed: int = 0,
                     width: int = WIDTH, height: int = HEIGHT, fps: int = LONG_FPS,
                     workers: int | None = None) -> tuple[list[Path], list[dict[str, Any]]]:
    """Long videos made of the scenes' clips at known times; their paths and caption records.

    A caption record: ``video``, ``start``, ``end`` (the clip's seconds), ``caption``,
    ``clip`` (the scene's own id) and ``sen_id``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layout = long_layout(scenes, clips_per_video, seed, fps=fps)
    jobs = [(out_dir / f"{clips[0].video_id}.mp4", clips, width, height, fps) for clips in layout]
    paths = encode_all(_make_long_video, jobs, workers)
    records: list[dict[str, Any]] = []
    for clips, path in zip(layout, paths, strict=False):
        for clip in clips:
            for caption in captions_for(clip.scene, seed):
                records.append({"video": path.name, "start": clip.start, "end": clip.end, "caption": caption,
                                "clip": clip.scene.video_id, "sen_id": len(records)})
    return paths, records


def make_long_demo(out_dir: str | Path, n_videos: int = 60, seed: int = 0, clips_per_video: int = 10,
                   **video_options: Any) -> dict[str, Path]:
    """``OUT/long/*.mp4`` from the demo's ``n_videos`` scenes, and ``OUT/long-captions.json``.

    ``video_options``: ``width``, ``height``, ``fps``, ``workers`` of :func:`make_long_videos`.
    """
    out_dir = Path(out_dir)
    _, records = make_long_videos(out_dir / "long", make_scenes(n_videos, seed), clips_per_video, seed,
                                  **video_options)
    captions_path = out_dir / "long-captions.json"
    write_bytes_atomic(captions_path, (json.dumps(records, indent=1) + "\n").encode())
    return {"long_videos": out_dir / "long", "long_captions": captions_path}
