"""What training reads: captions grouped by video, their frames, and each epoch's pairs.

Each epoch pairs every video with one of its captions drawn at random and shuffles the
pairs; both draws depend only on (seed, epoch), so a resumed run sees exactly the
batches the uninterrupted run would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emoret.errors import InputError
from emoret.records import check_file_name, iter_numbered, require_caption, require_video_id, source_name
from emoret.text.emotions import record_emotion_vector
from emoret.video.frames import check_frames, frames_path, load_frames, read_manifest_if_any
from emoret.video.sampling import DEFAULT_RULE, pick_frames

if TYPE_CHECKING:  # torch and the model load when training starts, not when the CLI parses flags
    import torch

    from emoret.model import EmoretModel


@dataclass
class VideoCaptions:
    video_id: str
    captions: list[str]
    emotions: list[list[int]]


def load_video_captions(captions_path: str, frames_dir: str) -> list[VideoCaptions]:
    """Caption records grouped by video, in first-seen order; every video needs frames."""
    source = source_name(captions_path)
    by_video: dict[str, VideoCaptions] = {}
    first_line: dict[str, int] = {}
    for line, record in iter_numbered(captions_path):
        caption = require_caption(record, source, line)
        vid = require_video_id(record, source, line)
        check_file_name(vid, source, line, suffix=".npy")
        if vid not in by_video:
            by_video[vid] = VideoCaptions(vid, [], [])
            first_line[vid] = line
        by_video[vid].captions.append(caption)
        by_video[vid].emotions.append(record_emotion_vector(record))
    if not by_video:
        raise InputError(source, "no captions: nothing to train on")
    missing = [vid for vid in by_video if not frames_path(frames_dir, vid).exists()]
    if missing:
        vid = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputError(source, f"video {vid!r} has no frames in {frames_dir}{more}", first_line[vid])
    records = manifest_records(frames_dir)
    for vid in by_video:
        if vid in records:
            check_frames(frames_dir, vid, records[vid])
    return list(by_video.values())


def manifest_records(frames_dir: str) -> dict[str, dict[str, Any]]:
    """The store's manifest records by video id (none for a store without a manifest:
    frames saved by hand, checked for their shape only)."""
    return {str(record.get("video_id")): record for record in read_manifest_if_any(frames_dir)
            if isinstance(record, dict) and "error" not in record}


class FrameCache:
    """Preprocessed frames of each video, kept in memory up to a byte budget. A store that
    holds more or fewer than ``num_frames`` a video is sampled by ``rule``."""

    def __init__(self, frames_dir: str, model: EmoretModel, num_frames: int, budget_bytes: int = 1 << 30,
                 rule: str = DEFAULT_RULE) -> None:
        self.frames_dir = frames_dir
        self.model = model
        self.num_frames = num_frames
        self.rule = rule
        self.budget = budget_bytes
        self.used = 0
        self.cache: dict[str, torch.Tensor] = {}
        self.records = manifest_records(frames_dir)

    def get(self, video_id: str) -> torch.Tensor:
        hit = self.cache.get(video_id)
        if hit is not None:
            return hit
        tensor = self.model.preprocess_frames(pick_frames(
            load_frames(self.frames_dir, video_id, record=self.records.get(video_id)), self.num_frames, self.rule))
        size = tensor.numel() * tensor.element_size()
        if self.used + size <= self.budget:
            self.cache[video_id] = tensor
            self.used += size
        return tensor


def epoch_pairs(videos: list[VideoCaptions], seed: int, epoch: int) -> list[tuple[int, int]]:
    """(video, caption) index pairs of one epoch: shuffled, one random caption a video."""
    import torch  # heavy: imported when training starts, not when the CLI parses flags

    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(len(videos), generator=generator).tolist()
    return [(v, int(torch.randint(len(videos[v].captions), (1,), generator=generator))) for v in order]
