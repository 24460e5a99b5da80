"""Convolutional Block Attention Module.

Woo, Park, Lee, Kweon, "CBAM: Convolutional Block Attention Module", ECCV 2018.
https://arxiv.org/abs/1807.06521

A channel gate, then a spatial gate, applied in sequence. Channel: average-
and max-pooled descriptors go through one shared MLP (C -> h -> C, ReLU), are
summed and squashed by a sigmoid. Spatial: the channel-wise mean and max maps
are stacked (2 channels), convolved by a k x k conv (no bias) and BatchNorm to
one map, and squashed by a sigmoid. The paper's spatial kernel is 7; 3 is its
ablation.

In a backbone started from trained weights (``backbone.weights``) the module is wrapped as
``x + scale * (f(x) - x)`` with ``scale`` zero (``models.attention._identity``), so the network
computes what it did before: its channel and spatial gates multiply to about 0.25 at the start.
The formula above holds at ``scale = 1``; from random weights the module is used unwrapped.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.attention._registry import register_attention
from models.attention._width import reduced_width
from models.hparams import HParam, IntRange, OneOf


@register_attention(
    "cbam",
    hparams=(
        HParam("reduction", IntRange(1, 256), 16, "r", "channel-MLP reduction ratio r"),
        HParam("kernel_size", OneOf((3, 7)), 7, "k", "spatial-gate conv size"),
    ),
    paper="CBAM: Convolutional Block Attention Module",
    url="https://arxiv.org/abs/1807.06521",
    params_formula="2*C*h + h + C + 2*k*k + 2, h = max(4, round(C/r))",
)
class CBAM(nn.Module):
    def __init__(self, channels: int, *, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        hidden = reduced_width(channels, reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )
        self.spatial = nn.Sequential(
            nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(1),
        )

    def forward(self, x: Tensor) -> Tensor:
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        mx = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        x = x * torch.sigmoid(avg + mx)
        maps = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(maps))
