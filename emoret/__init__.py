"""emoret: emotion-aware text-to-video retrieval."""

from __future__ import annotations

from functools import cache


@cache
def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:  # pyproject.toml holds the one version number; the installed metadata carries it here
        return version("emoret")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> str:
    # Read on first use: importlib.metadata costs a tenth of a cold `emoret search`.
    if name == "__version__":
        return _installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
