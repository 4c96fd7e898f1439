"""Learning rates: which parameters learn at which rate, and how the rate moves over the steps."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from emoret.train.config import TrainConfig

if TYPE_CHECKING:  # torch and the model load when training starts, not when the CLI parses flags
    import torch

    from emoret.model import EmoretModel

# Parameters the base model does not have (they start untrained), and the loss's scale and
# bias (SigLIP's): they learn at ``lr_new``.
NEW_PARAMETERS = (
    "vision_model.embeddings.added_cls",
    "vision_model.embeddings.temporal_embedding",
    "text_model.embeddings.emotion_embedding.weight",
    "logit_scale",
    "logit_bias",
)


def lr_factor(step: int, total_steps: int, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction of steps, then cosine decay to 0."""
    warmup_steps = math.ceil(warmup * total_steps)
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / span))


def parameter_groups(model: EmoretModel, config: TrainConfig) -> list[dict[str, Any]]:
    """Base model weights at ``lr`` (decay on matrices only); new parameters at ``lr_new``, no decay."""
    decay, no_decay, new = [], [], []
    for name, param in model.clip.named_parameters():
        if not param.requires_grad:
            continue
        if name in NEW_PARAMETERS:
            new.append(param)
        elif param.ndim >= 2:
            decay.append(param)
        else:
            no_decay.append(param)
    return [
        {"params": decay, "base_lr": config.lr, "weight_decay": config.weight_decay, "lr": config.lr},
        {"params": no_decay, "base_lr": config.lr, "weight_decay": 0.0, "lr": config.lr},
        {"params": new, "base_lr": config.lr_new, "weight_decay": 0.0, "lr": config.lr_new},
    ]


def set_learning_rates(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Scale every group's base rate by ``factor`` (from :func:`lr_factor`)."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
