"""Validation during training: retrieval recall of held-out captions against their videos."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emoret.evaluation.metrics import evaluate
from emoret.train.config import TrainConfig
from emoret.train.data import FrameCache, VideoCaptions

if TYPE_CHECKING:  # torch and the model load when training starts, not when the CLI parses flags
    from emoret.model import EmoretModel


def validate(
    model: EmoretModel, videos: list[VideoCaptions], config: TrainConfig, frames: FrameCache, batch: int = 32
) -> dict[str, dict[str, Any]]:
    """Text→video and video→text R@1/5/10 of every caption against the videos."""
    import torch  # heavy: imported when training starts, not when the CLI parses flags

    was_training = model.training
    model.eval()
    texts, emotions, owner = [], [], []
    for index, item in enumerate(videos):
        texts += item.captions
        emotions += item.emotions
        owner += [index] * len(item.captions)
    with torch.inference_mode():
        video_emb = torch.cat(
            [
                model.encode_video(torch.stack([frames.get(v.video_id) for v in videos[i : i + batch]]))
                for i in range(0, len(videos), batch)
            ]
        )
        text_emb = torch.cat(
            [
                model.encode_text(
                    texts[i : i + batch],
                    torch.tensor(emotions[i : i + batch], dtype=torch.float32) if config.emotion else None,
                )
                for i in range(0, len(texts), batch)
            ]
        )
    model.train(was_training)
    similarity = (text_emb.float() @ video_emb.float().t()).cpu().numpy()
    report = evaluate(similarity, owner).as_dict()
    return {direction: {k: report[direction][k] for k in ("R@1", "R@5", "R@10", "MdR")} for direction in report}
