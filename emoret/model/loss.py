"""The contrastive losses over the (gathered) batch: symmetric InfoNCE (CLIP) and the
pairwise sigmoid loss (SigLIP).

Features come in L2-normalised; ``log_scale`` is the learnable log logit scale. InfoNCE
clamps it to [0, ln 100] so the logits stay bounded (CLIP's temperature); the sigmoid
loss uses it as SigLIP learnt it, with its learnt bias. Under ``torch.distributed`` the
features of every process are gathered (with their gradients) so that negatives come
from the whole global batch.
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


def pairwise_sigmoid(text: torch.Tensor, video: torch.Tensor, log_scale: torch.Tensor,
                     bias: torch.Tensor) -> torch.Tensor:
    """SigLIP's loss: every (text, video) pair a binary question, positive on the diagonal.

    logits = exp(log_scale) · text·videoᵀ + bias; the loss is -Σ log σ(±logits) over a
    text's pairs, averaged over the texts (transformers' ``SiglipModel`` and big_vision's).
    """
    logits = log_scale.exp() * text @ video.t() + bias
    signs = 2 * torch.eye(logits.shape[0], device=logits.device, dtype=logits.dtype) - 1
    return -F.logsigmoid(signs * logits).sum(dim=1).mean()


def contrastive_loss(objective: str, text: torch.Tensor, video: torch.Tensor, log_scale: torch.Tensor,
                     bias: torch.Tensor | None = None) -> torch.Tensor:
    """``objective`` (a family's: infonce or sigmoid) of the batch."""
    if objective == "sigmoid":
        if bias is None:
            raise ValueError("the sigmoid loss needs the model's logit bias")
        return pairwise_sigmoid(text, video, log_scale, bias)
    if objective != "infonce":
        raise ValueError(f"unknown objective {objective!r}: choose infonce or sigmoid")
    return symmetric_infonce(text, video, log_scale)


def gather_features(features: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's features in rank order, keeping the autograd graph."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(features), dim=0)


def emotion_alignment(
    prototypes: torch.Tensor, video: torch.Tensor, emotions: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """InfoNCE between emotion prototypes and videos: the ``--emotion-loss`` term.

    ``prototypes`` [B, D] (normalised) are the text encoder's features of an empty caption
    carrying caption i's emotions, so they depend on the emotion table alone, not on the
    caption's words; ``video`` [B, D] the videos; ``emotions`` [B, 8] the captions' counts.
    A prototype's positives are the videos whose caption has the same set of emotions
    (its own among them); captions without emotions take no part. Text→video and
    video→text cross-entropies against those multi-positive targets, averaged. The table
    thus learns to point at what the videos of an emotion look like, which is what a word
    the model never saw can only be known by.
    """
    present = emotions > 0
    has = present.any(dim=1)
    if int(has.sum()) < 2:
        return prototypes.sum() * 0.0  # nothing to contrast; keeps the graph whole
    same = (present[:, None, :] == present[None, :, :]).all(dim=-1) & has[:, None] & has[None, :]
    target = same.to(prototypes.dtype)
    logits = logit_scale(log_scale) * prototypes @ video.t()  # [prototypes, videos]
    to_video = -(target * logits.log_softmax(dim=1)).sum(dim=1) / target.sum(dim=1).clamp(min=1.0)
    # Video → prototypes: only the prototypes of emotional captions compete.
    masked = logits.t().masked_fill(~has[None, :], torch.finfo(logits.dtype).min)
    log_probs = torch.where(has[None, :], masked.log_softmax(dim=1), torch.zeros_like(masked))
    to_text = -(target.t() * log_probs).sum(dim=1) / target.t().sum(dim=1).clamp(min=1.0)
    return (to_video[has].mean() + to_text[has].mean()) / 2
