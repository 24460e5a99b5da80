"""Effective Squeeze-Excitation (eSE).

Lee, Park, "CenterMask: Real-Time Anchor-Free Instance Segmentation", CVPR 2020
(VoVNetV2). https://arxiv.org/abs/1911.06667

SE with a single C -> C fully connected layer (a 1x1 conv on the pooled
vector) instead of the C -> C/r -> C bottleneck, so no channel information is
lost to the reduction; hard-sigmoid gate.

In a backbone started from trained weights (``backbone.weights``) the module is wrapped as
``x + scale * (f(x) - x)`` with ``scale`` zero (``models.attention._identity``), so the network
computes what it did before: its hard-sigmoid gates start near 0.5 and would halve every
channel. The formula above holds at ``scale = 1``; from random weights the module is used
unwrapped.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from models.attention._registry import register_attention


@register_attention(
    "ese",
    paper="CenterMask: Real-Time Anchor-Free Instance Segmentation",
    url="https://arxiv.org/abs/1911.06667",
    params_formula="C*C + C",
)
class EffectiveSE(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x * F.hardsigmoid(self.fc(x.mean(dim=(2, 3), keepdim=True)))
