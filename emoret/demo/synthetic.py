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

import json
import math
import multiprocessing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from emoret.atomic import atomic_path, write_bytes_atomic
from emoret.devices import available_cpus
from emoret.video.reencode import add_h264_stream
from emoret.video.yuv import rgb_to_yuv420p


@dataclass(frozen=True)
class Mood:
    name: str
    adjectives: tuple[str, ...]  # emotional words for captions; empty for a neutral scene
    background: tuple[int, int, int]  # RGB of the scene's light
    light: str  # how a caption names the light
    speed: float  # cycles of the motion over the clip
    verbs: tuple[str, ...]  # how the mood moves things
    object_gain: float  # brightness of the shape (fear and sadness dim it)
    effect: str  # "steady", "flicker", "pulse", "flash", "jitter", "wobble"


MOODS: tuple[Mood, ...] = (
    Mood("joy", ("happy", "cheerful", "joyful", "merry"), (250, 226, 150), "bright sunny",
         2.0, ("bounces", "dances", "skips"), 1.0, "steady"),
    Mood("fear", ("frightening", "scary", "ominous", "frightened"), (16, 14, 22), "dark",
         0.5, ("creeps", "sneaks", "lurks"), 0.55, "flicker"),
    Mood("sadness", ("sad", "gloomy", "sorrowful", "lonely"), (92, 98, 120), "dim grey",
         0.5, ("drifts", "droops", "sinks"), 0.7, "steady"),
    Mood("anger", ("angry", "furious", "raging", "aggressive"), (140, 20, 14), "red",
         2.5, ("rushes", "charges", "shakes"), 1.0, "jitter"),
    Mood("surprise", ("surprising", "sudden", "startling"), (70, 70, 70), "flashing",
         1.5, ("pops", "jumps", "leaps"), 1.0, "flash"),
    Mood("disgust", ("disgusting", "gross", "slimy", "nasty"), (86, 96, 30), "murky green",
         0.8, ("oozes", "wobbles", "slithers"), 0.8, "wobble"),
    Mood("trust", ("peaceful", "safe", "calm", "steady"), (170, 205, 235), "soft blue",
         0.7, ("glides", "floats", "sails"), 1.0, "steady"),
    Mood("anticipation", ("eager", "hopeful", "excited", "expectant"), (200, 170, 110), "glowing",
         1.2, ("hurries", "races", "heads"), 1.0, "pulse"),
    Mood("neutral", (), (128, 128, 128), "plain grey", 1.0, ("moves", "goes", "travels"), 1.0, "steady"),
)

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30),
    "green": (40, 200, 60),
    "blue": (40, 80, 240),
    "yellow": (250, 230, 20),
    "purple": (150, 50, 200),
    "orange": (250, 140, 20),
    "white": (250, 250, 250),
    "pink": (250, 120, 190),
}

SHAPES: dict[str, tuple[str, ...]] = {  # kind -> words a caption may use
    "circle": ("ball", "circle"),
    "square": ("square", "box"),
    "triangle": ("triangle",),
    "diamond": ("diamond",),
}

MOTIONS: dict[str, str] = {  # kind -> how a neutral caption says it
    "left": "moves to the left",
    "right": "moves to the right",
    "up": "rises upwards",
    "down": "falls downwards",
    "bounce": "bounces up and down",
    "circle": "goes round in a circle",
    "grow": "grows bigger",
    "shrink": "shrinks",
}

_DIRECTION_WORDS = {  # appended to a mood verb
    "left": "to the left", "right": "to the right", "up": "upwards", "down": "downwards",
    "bounce": "up and down", "circle": "in a circle", "grow": "while growing", "shrink": "while shrinking",
}

WIDTH, HEIGHT = 320, 240

# x264 settings that make its output a function of the frames alone. One thread: x264's
# threads split the work by timing. cpu-independent: its SIMD code otherwise takes other
# decisions than its C code, which differ by CPU and even from one encode to the next (on
# an AVX-512 CPU, 8 encodes of the same frames gave 4 outputs); with it, the bytes equal
# those of x264's plain-C path (asm=0), which stands in for any other CPU.
X264_REPEATABLE = "threads=1:lookahead-threads=1:sliced-threads=0:cpu-independent=1"


@dataclass(frozen=True)
class Scene:
    """What one synthetic video shows, and how it is timed."""

    video_id: str
    mood: str
    colour: str
    shape: str
    motion: str
    duration: float  # seconds
    fps: int
    phase: float  # where the motion starts, in cycles, so videos of one kind differ

    def mood_spec(self) -> Mood:
        return _MOOD_BY_NAME[self.mood]


_MOOD_BY_NAME = {mood.name: mood for mood in MOODS}


def make_scenes(n_videos: int, seed: int = 0, prefix: str = "synth") -> list[Scene]:
    """``n_videos`` distinct scenes, moods in turn, the rest drawn without repeats."""
    rng = np.random.default_rng(seed)
    combos = [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS]
    used: set[tuple[str, str, str, str]] = set()
    scenes = []
    width = max(3, len(str(n_videos - 1)))
    for index in range(n_videos):
        mood = MOODS[index % len(MOODS)].name
        while True:
            colour, shape, motion = combos[rng.integers(len(combos))]
            if (mood, colour, shape, motion) not in used or len(used) >= len(combos) * len(MOODS):
                break
        used.add((mood, colour, shape, motion))
        scenes.append(drawn_scene(rng, f"{prefix}{index:0{width}d}", mood, colour, shape, motion))
    return scenes


def drawn_scene(rng: np.random.Generator, video_id: str, mood: str, colour: str, shape: str, motion: str) -> Scene:
    """A scene of these looks; its length, frame rate and phase drawn from ``rng`` (in that order)."""
    return Scene(
        video_id=video_id,
        mood=mood,
        colour=colour,
        shape=shape,
        motion=motion,
        duration=float(rng.choice([2.0, 2.5, 3.0, 3.5, 4.0])),
        fps=int(rng.choice([15, 20, 24, 30])),
        phase=float(rng.random()),
    )


def captions_for(scene: Scene, seed: int = 0, n_captions: int = 5) -> list[str]:
    """Several captions naming what the scene shows; most carry its mood's words."""
    rng = np.random.default_rng([seed, _stable_hash(scene.video_id)])
    mood = scene.mood_spec()
    colour = scene.colour
    noun = lambda: str(rng.choice(SHAPES[scene.shape]))  # noqa: E731
    neutral_motion = MOTIONS[scene.motion]
    verb = lambda: f"{rng.choice(mood.verbs)} {_DIRECTION_WORDS[scene.motion]}"  # noqa: E731
    light = mood.light
    captions = [
        f"a {colour} {noun()} {neutral_motion} on a {light} background",
        f"a {light} scene with a {colour} {noun()} that {neutral_motion}",
    ]
    if mood.adjectives:
        adjective = lambda: str(rng.choice(mood.adjectives))  # noqa: E731
        captions += [
            f"a {adjective()} {colour} {noun()} {verb()}",
            f"the {adjective()} {light} scene: a {colour} {noun()} {verb()}",
            f"a {colour} {noun()} {verb()}, it looks {adjective()}",
            f"something {adjective()}: a {noun()} in {colour} {verb()} in the {light} light",
        ]
    else:
        captions += [
            f"a {colour} {noun()} {verb()}",
            f"the {colour} {noun()} {neutral_motion}",
            f"a {noun()} coloured {colour} {neutral_motion} in {light} light",
        ]
    captions = [_articles(caption) for caption in captions]
    order = rng.permutation(len(captions))
    return [captions[i] for i in order[:n_captions]]


def _articles(text: str) -> str:
    """'a' before a vowel sound becomes 'an' ("an orange ball")."""
    words = text.split(" ")
    for i, word in enumerate(words[:-1]):
        if word.lower() == "a" and words[i + 1][:1].lower() in "aeiou":
            words[i] = word[0] + "n"
    return " ".join(words)


def _stable_hash(text: str) -> int:
    value = 0
    for char in text.encode():
        value = (value * 131 + char) % (1 << 31)
    return value


def render_frames(scene: Scene, width: int = WIDTH, height: int = HEIGHT, fps: int | None = None,
                  duration: float | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 ``[H, W, 3]`` frames of a scene (size and timing overridable for tests)."""
    fps = fps or scene.fps
    duration = duration or scene.duration
    n_frames = max(1, round(fps * duration))
    mood = scene.mood_spec()
    colour = np.array(COLOURS[scene.colour], dtype=np.float32) * mood.object_gain
    # A soft vertical gradient so the background is not one flat colour.
    shade = 1.0 - 0.25 * np.arange(height, dtype=np.float32) / max(1, height - 1)
    column = shade[:, None] * np.array(mood.background, dtype=np.float32)  # [H, 3]
    backgrounds: dict[float, np.ndarray] = {}
    base_radius = 0.16 * min(width, height)
    for index in range(n_frames):
        t = index / n_frames  # 0 .. 1 over the clip
        cx, cy, radius = _placement(scene.motion, t, mood.speed, scene.phase, width, height, base_radius)
        light = _light(mood.effect, t, index)
        if mood.effect == "jitter":
            cx += 0.03 * width * math.sin(index * 2.1)
            cy += 0.03 * height * math.cos(index * 1.7)
        if mood.effect == "wobble":
            radius *= 1.0 + 0.12 * math.sin(2 * math.pi * 3 * t)
        light = round(light, 3)
        if light not in backgrounds:
            row = np.clip(column * light, 0, 255).astype(np.uint8)
            backgrounds[light] = np.ascontiguousarray(np.broadcast_to(row[:, None, :], (height, width, 3)))
        frame = backgrounds[light].copy()
        # Draw only inside the shape's bounding box.
        reach = radius * 1.3
        x0, x1 = max(0, int(cx - reach)), min(width, int(cx + reach) + 2)
        y0, y1 = max(0, int(cy - reach)), min(height, int(cy + reach) + 2)
        if x0 < x1 and y0 < y1:
            ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            mask = _shape_mask(scene.shape, xs - cx, ys - cy, radius)
            paint = np.clip(colour * min(1.0, 0.6 + 0.4 * light), 0, 255).astype(np.uint8)
            frame[y0:y1, x0:x1][mask] = paint
        yield frame


def _placement(motion: str, t: float, speed: float, phase: float, width: int, height: int,
               radius: float) -> tuple[float, float, float]:
    """Centre and radius of the shape at time ``t`` (0..1)."""
    margin_x, margin_y = radius * 1.2, radius * 1.2
    span_x, span_y = width - 2 * margin_x, height - 2 * margin_y
    # Linear motions cover the frame once, at the mood's pace (slow moods go part way).
    progress = min(1.0, t * max(speed, 0.5))
    swing = (t * speed + phase) % 1.0
    if motion == "left":
        return width - margin_x - span_x * progress, height / 2, radius
    if motion == "right":
        return margin_x + span_x * progress, height / 2, radius
    if motion == "up":
        return width / 2, height - margin_y - span_y * progress, radius
    if motion == "down":
        return width / 2, margin_y + span_y * progress, radius
    if motion == "bounce":
        return width / 2, height - margin_y - span_y * abs(math.sin(math.pi * swing * 2)), radius
    if motion == "circle":
        angle = 2 * math.pi * swing
        return width / 2 + 0.35 * span_x * math.cos(angle), height / 2 + 0.35 * span_y * math.sin(angle), radius
    if motion == "grow":
        return width / 2, height / 2, radius * (0.4 + 1.2 * progress)
    if motion == "shrink":
        return width / 2, height / 2, radius * (1.6 - 1.2 * progress)
    raise ValueError(f"unknown motion {motion!r}")


def _light(effect: str, t: float, index: int) -> float:
    """The scene's light level at time ``t``: steady, or the mood's effect."""
    if effect == "flicker":
        return 0.7 + 0.3 * (((index * 7919) % 13) / 12.0)
    if effect == "pulse":
        return 0.75 + 0.25 * math.sin(2 * math.pi * 2 * t)
    if effect == "flash":
        return 3.0 if 0.45 <= t < 0.6 else 1.0
    return 1.0


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    if shape == "circle":
        return dx * dx + dy * dy <= radius * radius
    if shape == "square":
        return (np.abs(dx) <= radius * 0.85) & (np.abs(dy) <= radius * 0.85)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= radius * 1.1
    if shape == "triangle":
        # Point up: inside the apex's two sides and above the base.
        return (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) * 2.0 <= (dy + radius) * 1.15)
    raise ValueError(f"unknown shape {shape!r}")


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: int, *, crf: int = 23,
                preset: str = "veryfast", gop: int | None = None, x264_params: str | None = None) -> Path:
    """Encode RGB frames to an H.264 MP4 with PyAV, atomically (temp file, then rename).

    Byte-for-byte repeatable, on any CPU: frames are converted to YUV in numpy (not by
    swscale, whose rounding depends on the CPU path it takes), and x264 runs one thread,
    CPU-independent (``X264_REPEATABLE``); callers encode several videos at once instead.
    ``x264_params`` are appended (a later setting wins).
    """
    import av

    path = Path(path)
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    with atomic_path(path) as tmp:
        with av.open(tmp, mode="w", format="mp4") as container:
            stream = add_h264_stream(container, fps)
            stream.width, stream.height = width - width % 2, height - height % 2
            stream.codec_context.thread_count = 1
            options = {"threads": "1"}
            if stream.codec_context.name == "libx264":
                params = f"{X264_REPEATABLE}:{x264_params}" if x264_params else X264_REPEATABLE
                options.update({"crf": str(crf), "preset": preset, "x264-params": params})
            if gop:
                stream.codec_context.gop_size = gop
            stream.codec_context.options = options
            for array in _chain(first, frames):
                planes = rgb_to_yuv420p(np.ascontiguousarray(array[: stream.height, : stream.width]))
                frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    return path


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def make_video(path: str | Path, scene: Scene, width: int = WIDTH, height: int = HEIGHT,
               fps: int | None = None, duration: float | None = None) -> Path:
    """Render and encode one scene (size and timing overridable, e.g. tiny for tests)."""
    return write_video(path, render_frames(scene, width, height, fps, duration), fps or scene.fps)



def _encode_all(make: Callable[..., Path], jobs: list[tuple], workers: int | None) -> list[Path]:
    """``make(*job)`` for every job, ``workers`` processes at a time (default: one a core)."""
    workers = min(workers or available_cpus(), len(jobs))
    if workers <= 1:
        return [make(*job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.starmap(make, jobs, chunksize=1)

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
    paths = _encode_all(make_video, jobs, workers)
    records: list[dict[str, Any]] = []
    for scene, path in zip(scenes, paths, strict=True):
        for caption in captions_for(scene, seed):
            records.append({"video": path.name, "caption": caption, "duration": duration or scene.duration,
                            "sen_id": len(records)})
    return paths, records


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
    paths = _encode_all(_make_long_video, jobs, workers)
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
        from emoret.demo.heldout import make_test_set

        paths.update(make_test_set(out_dir / "test", test_videos, seed, exclude=make_scenes(n_videos, seed)))
    return paths
