"""Contrastive losses: symmetric InfoNCE and the seed's source-wise variant (d).

Features come in L2-normalised; ``log_scale`` is the learnable log logit scale
(CLIP's temperature), clamped to [0, ln 100] so the logits stay bounded. Under
``torch.distributed`` the features of every process are gathered (with their
gradients) so that negatives come from the whole global batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_LOG_SCALE = math.log(100.0)


def logit_scale(log_scale: torch.Tensor) -> torch.Tensor:
    return log_scale.clamp(0.0, MAX_LOG_SCALE).exp()


def symmetric_infonce(text: torch.Tensor, video: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Mean of text→video and video→text cross-entropy; pair i is the positive of row i."""
    logits = logit_scale(log_scale) * text @ video.t()
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def sourcewise_infonce(
    video: torch.Tensor, subtitle: torch.Tensor, caption: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """Variant (d): each video has two positive texts, its subtitle and its auxiliary caption.

    The 2B texts form one pool. Video→text: for each video and each of its two positives,
    the cross-entropy of that positive against all 2B texts (averaged over the 2B terms).
    Text→video: each of the 2B texts against the B videos. The loss is the mean of both.
    """
    batch = video.shape[0]
    texts = torch.cat([subtitle, caption], dim=0)  # [2B, D]
    logits = logit_scale(log_scale) * video @ texts.t()  # [B, 2B]
    log_probs = logits.log_softmax(dim=1)
    rows = torch.arange(batch, device=video.device)
    video_to_text = -(log_probs[rows, rows] + log_probs[rows, rows + batch]).mean() / 2
    text_to_video = F.cross_entropy(logits.t(), torch.cat([rows, rows]))
    return (video_to_text + text_to_video) / 2


def gather_features(features: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's features in rank order, keeping the autograd graph."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(features), dim=0)
