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
