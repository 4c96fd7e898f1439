"""Which paths are videos: the file extensions, and finding video files under folders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from emoret.errors import InputError

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .wmv .flv .3gp .ts .mts .ogv".split()
)


def find_videos(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, and the video files under directories (recursively, sorted).

    A path that does not exist is an :class:`InputError`. Hidden files and folders
    under a directory are left out (they include our own temporary files).
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(_walk_videos(path))
        elif path.exists() or path.is_symlink():
            candidates = [path]
        else:
            raise InputError(str(path), "no such file or directory")
        for candidate in candidates:
            key = Path(os.path.abspath(candidate))
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def _walk_videos(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS:
                yield Path(dirpath) / name
