"""The contrastive losses against their formulas written out term by term."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from emoret.model.loss import (
    MAX_LOG_SCALE,
    logit_scale,
    symmetric_infonce,
)


def unit(rows: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(rows, 6, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_symmetric_infonce_matches_the_formula():
    text, video, log_scale = unit(5, 0), unit(5, 1), torch.tensor(math.log(20.0))
    s = 20.0 * text @ video.t()
    t2v = -sum(s[i, i] - torch.logsumexp(s[i], 0) for i in range(5)) / 5
    v2t = -sum(s[i, i] - torch.logsumexp(s[:, i], 0) for i in range(5)) / 5
    assert torch.allclose(symmetric_infonce(text, video, log_scale), (t2v + v2t) / 2, atol=1e-5)


def test_logit_scale_is_clamped_to_100_and_learns_below_it():
    assert torch.isclose(logit_scale(torch.tensor(9.0)), torch.tensor(100.0))
    param = torch.tensor(MAX_LOG_SCALE, requires_grad=True)
    symmetric_infonce(unit(4, 0), unit(4, 1), param).backward()
    assert param.grad is not None and param.grad != 0  # at the bound it can still move down


def test_emotion_alignment_matches_the_formula_with_shared_positives():
    from emoret.model.loss import emotion_alignment

    prototypes, video, log_scale = unit(4, 2), unit(4, 3), torch.tensor(math.log(10.0))
    # Captions 0 and 2 share {joy}; 1 is {fear}; 3 has no emotion and takes no part.
    emotions = torch.tensor([[1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 2, 0, 0, 0, 0, 0],
                             [3, 0, 0, 0, 0, 0, 0, 0], [0] * 8], dtype=torch.float32)  # fmt: skip
    s = 10.0 * prototypes @ video.t()
    positives = {0: [0, 2], 1: [1], 2: [0, 2]}
    t2v = sum(-sum(s[i, j] - torch.logsumexp(s[i], 0) for j in p) / len(p) for i, p in positives.items()) / 3
    # Video j against the prototypes of the emotional captions (0, 1, 2) only.
    v2t = sum(-sum(s[i, j] - torch.logsumexp(s[:3, j], 0) for i in p) / len(p) for j, p in positives.items()) / 3
    assert torch.allclose(emotion_alignment(prototypes, video, emotions, log_scale), (t2v + v2t) / 2, atol=1e-5)


def test_emotion_alignment_is_zero_without_two_emotional_captions_and_keeps_the_graph():
    from emoret.model.loss import emotion_alignment

    prototypes = unit(3, 4).requires_grad_()
    emotions = torch.tensor([[1, 0, 0, 0, 0, 0, 0, 0], [0] * 8, [0] * 8], dtype=torch.float32)
    loss = emotion_alignment(prototypes, unit(3, 5), emotions, torch.tensor(1.0))
    loss.backward()
    assert float(loss.detach()) == 0.0 and prototypes.grad is not None
