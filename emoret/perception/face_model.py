"""Where the facial-expression model comes from: a local file, or fetched once into the cache.

The default is HSEmotion's EfficientNet-B0 8-class AffectNet model (Apache-2.0),
downloaded on first use into ``$EMORET_CACHE/face`` (default ``~/.cache/emoret/face``).
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from emoret.atomic import atomic_path
from emoret.model.hub import offline as hub_offline
from emoret.text.emotions import cache_dir

DEFAULT_FACE_MODEL = "enet_b0_8_best_vgaf"
FACE_MODEL_URL = (
    "https://github.com/HSE-asavchenko/face-emotion-recognition/raw/main/models/affectnet_emotions/onnx/{name}.onnx"
)
DOWNLOAD_TIMEOUT_S = 60


class FaceModelUnavailable(Exception):
    """The expression model is neither given, cached, nor downloadable."""


def cached_model_path(name: str = DEFAULT_FACE_MODEL) -> Path:
    return cache_dir() / "face" / f"{name}.onnx"


def face_model_path(local: str | os.PathLike | None = None, name: str = DEFAULT_FACE_MODEL,
                    url: str | None = None) -> Path:
    """``local`` when given (it must exist), else the cached copy, fetched on first use."""
    if local is not None:
        path = Path(local)
        if not path.is_file():
            raise FaceModelUnavailable(f"{path}: no such face model file")
        return path
    target = cached_model_path(name)
    if target.is_file():
        return target
    source = url or FACE_MODEL_URL.format(name=name)
    if hub_offline():
        raise FaceModelUnavailable(f"no face-expression model in {target.parent} and HF_HUB_OFFLINE is set: "
                                   f"download {source} and pass --face-model PATH")
    try:
        download(source, target)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise FaceModelUnavailable(
            f"cannot fetch the face-expression model from {source} ({reason}): download it and pass "
            "--face-model PATH"
        ) from None
    return target


def download(url: str, target: Path) -> None:
    """Fetch ``url`` to ``target`` atomically: a partial download never looks like a model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            shutil.copyfileobj(response, handle)
