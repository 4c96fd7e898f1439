"""Searching an index: query encoders (torch and numpy), emotion re-ranking, answers."""
