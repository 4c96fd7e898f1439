"""The contrastive loss: symmetric InfoNCE over the (gathered) batch.

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


def gather_features(features: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's features in rank order, keeping the autograd graph."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(features), dim=0)
