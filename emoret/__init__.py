"""emoret: emotion-aware text-to-video retrieval.

The public Python API (documented in :mod:`emoret.api` and the README's "Use from Python"):

- ``create_model(spec, ModelOptions(...))``: a model from a hub id, a CLIP or emoret
  directory, or a CLIP-ViP ``.pt``;
- ``annotate``, ``embed_captions``, ``embed_videos``: caption records and embedding sets;
- ``build_index``, ``refresh_index``, ``open_index``: index directories;
- ``search(index, queries, encoder=None, SearchOptions(...))``: each query's ``Answer``,
  whose ``records()`` are what ``emoret search --json`` prints; ``query_encoder``;
- ``feel``: videos' emotions; ``evaluate``: the retrieval table.

Each is loaded on first use: ``import emoret`` stays cheap and never imports torch.
"""

from __future__ import annotations

from functools import cache

TYPE_CHECKING = False  # not typing's: importing typing would double what `import emoret` costs
if TYPE_CHECKING:
    from typing import Any

    from emoret.api import (
        Answer,
        Cutting,
        Encoder,
        IndexParams,
        ModelOptions,
        QueryEncoder,
        SearchOptions,
        annotate,
        build_index,
        create_model,
        embed_captions,
        embed_videos,
        evaluate,
        feel,
        open_index,
        query_encoder,
        refresh_index,
        search,
    )

__all__ = [
    "Answer", "Cutting", "Encoder", "IndexParams", "ModelOptions", "QueryEncoder", "SearchOptions",
    "annotate", "build_index", "create_model", "embed_captions", "embed_videos", "evaluate", "feel",
    "open_index", "query_encoder", "refresh_index", "search",
]


@cache
def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:  # pyproject.toml holds the one version number; the installed metadata carries it here
        return version("emoret")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    # Read on first use: importlib.metadata costs a tenth of a cold `emoret search`.
    if name == "__version__":
        return _installed_version()
    if not name.startswith("_") and name != "api":  # emoret.api's names (numpy and more: only when used)
        from importlib import import_module

        api = import_module("emoret.api")  # not `from emoret import api`: that asks this hook again
        if name in api.__all__:
            return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
