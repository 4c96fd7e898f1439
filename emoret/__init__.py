"""emoret: emotion-aware text-to-video retrieval."""

__version__ = "0.1.0"
