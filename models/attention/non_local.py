"""Non-local block (embedded Gaussian).

Wang, Girshick, Gupta, He, "Non-local Neural Networks", CVPR 2018.
https://arxiv.org/abs/1711.07971

Self-attention over all H*W positions: theta, phi and g are 1x1 convs to an
inner width ``m = C/r`` (the paper halves: r=2); the affinity
``softmax(theta(x)^T phi(x))`` (embedded Gaussian) weights g(x) at every
position; a 1x1 conv back to C and BatchNorm (W_z) is added to the input (the
block's own residual). The affinity is (H*W)^2, so the registry allows the
block only in stages of at most 256 positions (16x16; the paper places it at
res4, 14x14); the space validator and ``build_model`` refuse it earlier. W_z
is *not* zero-initialised as in the paper, whose zero init serves fine-tuning
from pre-trained weights; from scratch it would also zero every gradient of
the block at the first step.

In a backbone started from trained weights (``backbone.weights``) the module is wrapped as
``x + scale * (f(x) - x)`` with ``scale`` zero (``models.attention._identity``), so the network
computes what it did before: its output convolution adds a random term to every position. The
formula above holds at ``scale = 1``; from random weights the module is used unwrapped.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.attention._registry import register_attention
from models.attention._width import reduced_width
from models.hparams import HParam, IntRange

MAX_POSITIONS = 256


@register_attention(
    "nonlocal",
    hparams=(HParam("reduction", IntRange(1, 64), 2, "r", "inner width is C/r"),),
    paper="Non-local Neural Networks",
    url="https://arxiv.org/abs/1711.07971",
    params_formula="3*(C*m + m) + m*C + C + 2*C, m = max(4, round(C/r))",
    placement="pre_add; only in stages with H*W <= 256 (its cost is (H*W)^2)",
    max_positions=MAX_POSITIONS,
)
class NonLocal(nn.Module):
    def __init__(self, channels: int, *, reduction: int = 2) -> None:
        super().__init__()
        inner = reduced_width(channels, reduction)
        self.inner = inner
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Sequential(nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).reshape(b, self.inner, h * w).transpose(1, 2)  # (B, HW, m)
        phi = self.phi(x).reshape(b, self.inner, h * w)  # (B, m, HW)
        g = self.g(x).reshape(b, self.inner, h * w).transpose(1, 2)  # (B, HW, m)
        affinity = torch.bmm(theta, phi).softmax(dim=-1)  # (B, HW, HW)
        y = torch.bmm(affinity, g).transpose(1, 2).reshape(b, self.inner, h, w)
        return x + self.out(y)
