"""Coordinate Attention.

Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network Design",
CVPR 2021. https://arxiv.org/abs/2103.02907

Pools along width and along height separately, so the gates keep position
along the other axis: both pooled strips go through a shared 1x1 conv to
``max(8, C/r)`` channels, BatchNorm and hard-swish (the ``h_swish`` that many
copies leave undefined), then split into a height gate and a width gate that
multiply the input.

In a backbone started from trained weights (``backbone.weights``) the module is wrapped as
``x + scale * (f(x) - x)`` with ``scale`` zero (``models.attention._identity``), so the network
computes what it did before: its two sigmoid gates multiply to about 0.25 at the start. The
formula above holds at ``scale = 1``; from random weights the module is used unwrapped.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.attention._registry import register_attention
from models.attention._width import reduced_width
from models.hparams import HParam, IntRange


@register_attention(
    "ca",
    hparams=(HParam("reduction", IntRange(1, 256), 32, "r", "channel reduction ratio r"),),
    paper="Coordinate Attention for Efficient Mobile Network Design",
    url="https://arxiv.org/abs/2103.02907",
    params_formula="C*m + m + 2*m + 2*(m*C + C), m = max(8, round(C/r))",
    placement="after the depthwise conv in MobileNetV2 (after_dw); pre_add in ResNets",
)
class CoordinateAttention(nn.Module):
    def __init__(self, channels: int, *, reduction: int = 32) -> None:
        super().__init__()
        mid = reduced_width(channels, reduction, minimum=8)
        self.conv1 = nn.Conv2d(channels, mid, 1)
        self.bn1 = nn.BatchNorm2d(mid)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(mid, channels, 1)
        self.conv_w = nn.Conv2d(mid, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        pooled_h = x.mean(dim=3, keepdim=True)  # (B, C, H, 1)
        pooled_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (B, C, W, 1)
        y = self.act(self.bn1(self.conv1(torch.cat([pooled_h, pooled_w], dim=2))))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        gate_h = torch.sigmoid(self.conv_h(y_h))  # (B, C, H, 1)
        gate_w = torch.sigmoid(self.conv_w(y_w.transpose(2, 3)))  # (B, C, 1, W)
        return x * gate_h * gate_w
