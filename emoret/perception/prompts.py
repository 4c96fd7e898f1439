"""Prompt ensembles for zero-shot emotion classes, in CLIP's manner.

Each class is several templates × several words for the emotion; the text embeddings
of all its prompts are averaged and normalised again, so no single phrasing decides.
The words are ordinary English synonyms; they are not tuned on any test set.
"""

from __future__ import annotations

TEMPLATES: tuple[str, ...] = (
    "a video that feels {}",
    "a {} scene",
    "a {} video",
    "something {}",
    "it looks {}",
    "a photo of a {} moment",
)

WORDS: dict[str, tuple[str, ...]] = {
    "joy": ("happy", "joyful", "cheerful", "merry", "delighted", "glad"),
    "trust": ("peaceful", "safe", "calm", "trusting", "serene", "steady"),
    "fear": ("frightening", "scary", "ominous", "frightened", "fearful", "terrifying"),
    "surprise": ("surprising", "sudden", "startling", "astonishing", "unexpected", "amazing"),
    "sadness": ("sad", "gloomy", "sorrowful", "lonely", "melancholy", "unhappy"),
    "disgust": ("disgusting", "gross", "nasty", "revolting", "repulsive", "slimy"),
    "anger": ("angry", "furious", "raging", "aggressive", "hostile", "enraged"),
    "anticipation": ("eager", "hopeful", "excited", "expectant", "anticipating", "keen"),
    "neutral": ("plain", "ordinary", "neutral", "everyday", "unremarkable", "normal"),
}


def class_prompts(emotion: str, templates: tuple[str, ...] = TEMPLATES) -> list[str]:
    """Every template filled with every word for ``emotion``."""
    return [template.format(word) for word in WORDS[emotion] for template in templates]
