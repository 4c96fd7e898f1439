"""Hugging Face hub ids (``org/name``) as model sources: the local cache first, then the hub.

A cached model is used as cached, with no network request at all, so a machine with a
cache works offline and a run does not change under the user because the hub moved on.
A model that is neither cached nor reachable fails at once, in one line, instead of
the hub client's minute of retries.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from emoret.errors import InputError

# org/name as the hub spells them; a bare name (``gpt2``) is an old-style hub id too.
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
# What loading a model needs: configs, safetensors weights, tokenizer files. Never the
# pickled or TensorFlow/Flax copies many repositories also hold.
TOKENIZER_FILES = ["*.json", "*.txt", "*.model", "*.tiktoken"]
MODEL_FILES = [*TOKENIZER_FILES, "*.safetensors"]
REACH_TIMEOUT_S = 5.0
DEFAULT_ENDPOINT = "https://huggingface.co"
LOCAL_HINT = "or pass a local model directory (--model path/to/dir, one written by save_pretrained or 'emoret train')"


def is_hub_id(spec: str) -> bool:
    """``org/name`` (or ``name``) that is not a path: no leading dot, no second slash."""
    return bool(HUB_ID.match(spec)) and ".." not in spec and not spec.endswith((".pt", ".pth", ".bin"))


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, read now (tests and callers may set them late)."""
    return _truthy("HF_HUB_OFFLINE") or _truthy("TRANSFORMERS_OFFLINE")


def cache_dir() -> Path:
    """The hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else huggingface_hub's default."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT


def cached_snapshot(repo_id: str, needs: str = "config.json", revision: str = "main") -> Path | None:
    """The cached snapshot of ``repo_id`` (``refs/main`` → ``snapshots/REV``) holding ``needs``, or None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir(), local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        return None
    path = Path(folder)
    return path if (path / needs).exists() else None


def _unreachable(url: str) -> str | None:
    """Why the hub's host cannot be reached within a few seconds, or None when it can."""
    parts = urlparse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=REACH_TIMEOUT_S):
            return None
    except OSError as err:
        return err.strerror or str(err) or type(err).__name__


def model_directory(repo_id: str, tokenizer_only: bool = False) -> Path:
    """A local directory holding ``repo_id``: the cached snapshot, else a fresh download
    (of the tokenizer files alone with ``tokenizer_only``).

    Raises a one-line :class:`InputError` when it is not cached and the hub is offline,
    unreachable, or does not have it.
    """
    needs = "tokenizer_config.json" if tokenizer_only else "config.json"
    found = cached_snapshot(repo_id, needs)
    if found is not None:
        return found
    where = cache_dir()
    if offline():
        raise InputError(repo_id, f"not a local path, not in the Hugging Face cache ({where}), and HF_HUB_OFFLINE is set; "
                                  f"unset it to download, {LOCAL_HINT}")
    url = endpoint()
    why = _unreachable(url)
    if why is not None:
        raise InputError(repo_id, f"not a local path, not in the Hugging Face cache ({where}), and {url} cannot be reached ({why}); "
                                  f"download it where there is a network, {LOCAL_HINT}")
    return _download(repo_id, where, TOKENIZER_FILES if tokenizer_only else MODEL_FILES, needs)


def _download(repo_id: str, where: Path, patterns: list[str], needs: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()  # its retry warnings are not ours to print
    try:
        folder = snapshot_download(repo_id, cache_dir=where, allow_patterns=patterns)
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(repo_id, f"cannot download from the Hugging Face hub ({first}); {LOCAL_HINT}") from None
    path = Path(folder)
    if not (path / needs).exists():
        raise InputError(repo_id, f"the hub repository has no {needs}; {LOCAL_HINT}")
    return path
