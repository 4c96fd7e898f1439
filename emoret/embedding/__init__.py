"""Embedding sets: the encoder protocol, precision, the runner and the set format."""
