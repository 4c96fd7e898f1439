"""Captions of a synthetic scene: they name its colour, shape, motion and light, and most
its mood with an emotional word."""

from __future__ import annotations

import numpy as np

from emoret.demo.scenes import MOTIONS, SHAPES, Scene

_DIRECTION_WORDS = {  # appended to a mood verb
    "left": "to the left", "right": "to the right", "up": "upwards", "down": "downwards",
    "bounce": "up and down", "circle": "in a circle", "grow": "while growing", "shrink": "while shrinking",
}


def captions_for(scene: Scene, seed: int = 0, n_captions: int = 5) -> list[str]:
    """Several captions naming what the scene shows; most carry its mood's words."""
    rng = np.random.default_rng([seed, stable_hash(scene.video_id)])
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
    captions = [with_articles(caption) for caption in captions]
    order = rng.permutation(len(captions))
    return [captions[i] for i in order[:n_captions]]


def with_articles(text: str) -> str:
    """'a' before a vowel sound becomes 'an' ("an orange ball")."""
    words = text.split(" ")
    for i, word in enumerate(words[:-1]):
        if word.lower() == "a" and words[i + 1][:1].lower() in "aeiou":
            words[i] = word[0] + "n"
    return " ".join(words)


def stable_hash(text: str) -> int:
    """A hash of ``text`` that every process agrees on (``hash()`` of a str is salted per process)."""
    value = 0
    for char in text.encode():
        value = (value * 131 + char) % (1 << 31)
    return value
