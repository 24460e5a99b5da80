"""Squeeze-and-Excitation.

Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018.
https://arxiv.org/abs/1709.01507

Global average pooling squeezes each channel to one number; a two-layer
bottleneck MLP (C -> C/r -> C, ReLU then sigmoid) turns those into per-channel
gates that rescale the input.

In a backbone started from trained weights (``backbone.weights``) the module is wrapped as
``x + scale * (f(x) - x)`` with ``scale`` zero (``models.attention._identity``), so the network
computes what it did before: its sigmoid gates start near 0.5 and would halve every channel of
the trained network. The formula above holds at ``scale = 1``; from random weights the module
is used unwrapped.
"""

from __future__ import annotations

from torch import Tensor, nn

from models.attention._registry import register_attention
from models.attention._width import reduced_width
from models.hparams import HParam, IntRange


@register_attention(
    "se",
    hparams=(HParam("reduction", IntRange(1, 256), 16, "r", "channel reduction ratio r"),),
    paper="Squeeze-and-Excitation Networks",
    url="https://arxiv.org/abs/1709.01507",
    params_formula="2*C*h + h + C, h = max(4, round(C/r))",
)
class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        hidden = reduced_width(channels, reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        s = self.fc2(self.act(self.fc1(self.pool(x))))
        return x * self.gate(s)
