"""The synthetic demo library and held-out set (videos, captions, a tiny model)."""
