"""Triplet attention.

Misra, Nalamada, Arasanipalai, Hou, "Rotate to Attend: Convolutional Triplet
Attention Module", WACV 2021. https://arxiv.org/abs/2010.03045

Three branches capture the (C, W), (C, H) and (H, W) interactions: each
rotates the tensor so that one axis is in the channel place, Z-pools it to two
maps (max and mean over that axis), convolves them by a k x k conv (no bias)
and BatchNorm to one map, gates the rotated tensor with its sigmoid and
rotates back. The output is the mean of the three.

In a backbone started from trained weights (``backbone.weights``) the module is wrapped as
``x + scale * (f(x) - x)`` with ``scale`` zero (``models.attention._identity``), so the network
computes what it did before: the mean of its three gated branches starts near half the input.
The formula above holds at ``scale = 1``; from random weights the module is used unwrapped.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.attention._registry import register_attention
from models.hparams import HParam, OddKernel


class _Gate(nn.Module):
    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.bn(self.conv(pooled)))


@register_attention(
    "triplet",
    hparams=(HParam("kernel_size", OddKernel(), 7, "k", "conv size of each branch"),),
    paper="Rotate to Attend: Convolutional Triplet Attention Module",
    url="https://arxiv.org/abs/2010.03045",
    params_formula="3*(2*k*k + 2)",
)
class TripletAttention(nn.Module):
    def __init__(self, channels: int, *, kernel_size: int = 7) -> None:
        super().__init__()
        self.ch = _Gate(kernel_size)  # H in the channel place: (C, W) interaction
        self.cw = _Gate(kernel_size)  # W in the channel place: (H, C) interaction
        self.hw = _Gate(kernel_size)  # plain spatial gate

    def forward(self, x: Tensor) -> Tensor:
        a = self.ch(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
        b = self.cw(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)
        return (a + b + self.hw(x)) / 3
