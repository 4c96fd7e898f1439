"""Reaching Ray: the optional import, and a session for one job (a new local Ray or a cluster)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from types import ModuleType

from emoret.errors import InputError

INSTALL_HINT = "pip install 'emoret[ray]'"


class RayUnavailable(InputError):
    """``--ray`` where Ray is not installed."""

    def __init__(self) -> None:
        super().__init__("--ray", f"needs Ray, which is not installed here: {INSTALL_HINT}")


def require_ray() -> ModuleType:
    """The ``ray`` module with Ray Data, or :class:`RayUnavailable`."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray without its data extra cannot run the pipeline)
    except ImportError:
        raise RayUnavailable() from None
    return ray


@contextlib.contextmanager
def connected(address: str | None) -> Iterator[ModuleType]:
    """Ray, reached for the block: ``address`` None starts a local Ray unless ``RAY_ADDRESS``
    names a cluster (as ``ray.init()`` does), ``auto`` is the cluster running on this machine,
    ``HOST:PORT`` or ``ray://HOST:PORT`` a remote one. A session the caller already opened
    (a script, a notebook) is used as it is and left open."""
    ray = require_ray()
    if ray.is_initialized():
        _quiet(ray)
        yield ray
        return
    starting = address == "local" or not (address or os.environ.get("RAY_ADDRESS"))
    options = {"include_dashboard": False} if starting else {}
    ray.init(address=address or None, logging_level=logging.ERROR, configure_logging=True, **options)
    try:
        _quiet(ray)
        yield ray
    finally:
        ray.shutdown()


def _quiet(ray: ModuleType) -> None:
    """stderr keeps emoret's own messages: no Ray Data progress bars or plan logs."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def has_gpus(ray: ModuleType) -> bool:
    """Whether the cluster offers GPUs (``device="auto"`` then puts the model on them)."""
    return float(ray.cluster_resources().get("GPU", 0)) > 0
