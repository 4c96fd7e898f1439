"""Captions: VADER sentiment and NRC emotions, annotation, the emotional-caption filter."""
