"""emoret: emotion-aware text-to-video retrieval."""

from importlib.metadata import PackageNotFoundError, version

try:  # pyproject.toml holds the one version number; the installed metadata carries it here
    __version__ = version("emoret")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
