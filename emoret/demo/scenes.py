"""The scene grammar of the synthetic videos: moods, colours, shapes and motions, and the
scenes drawn from them.

A mood sets a scene's light and pace (a happy scene is bright and quick, a frightening one
dark and creeping); colour, shape and motion set what moves in it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
