"""The nearest-neighbour index of an embedding set: build, refresh, check, exact search."""
