"""Efficient Channel Attention.

Wang et al., "ECA-Net: Efficient Channel Attention for Deep Convolutional
Neural Networks", CVPR 2020. https://arxiv.org/abs/1910.03151

Global average pooling, then a 1-D convolution of size k across the channel
axis (local cross-channel interaction without dimensionality reduction), then
a sigmoid gate. ``kernel_size="auto"`` uses the paper's adaptive rule
``k = |log2(C)/gamma + b/gamma|`` made odd, with gamma=2, b=1 -- and, unlike
copies that return 1 for narrow layers, never below 3. A given kernel size is
always honoured.

In a backbone started from trained weights (``backbone.weights``) the module is wrapped as
``x + scale * (f(x) - x)`` with ``scale`` zero (``models.attention._identity``), so the network
computes what it did before: its sigmoid gates start near 0.5 and would halve every channel of
the trained network. The formula above holds at ``scale = 1``; from random weights the module
is used unwrapped.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from models.attention._registry import register_attention
from models.hparams import HParam, OddKernel


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """The paper's adaptive kernel size, odd and at least 3."""
    k = int(abs(math.log2(channels) / gamma + b / gamma))
    k = k if k % 2 else k + 1
    return max(3, k)


@register_attention(
    "eca",
    hparams=(
        HParam("kernel_size", OddKernel(allow_auto=True), "auto", "k",
               "1-D conv size across channels; auto = adaptive to C"),
    ),
    paper="ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks",
    url="https://arxiv.org/abs/1910.03151",
    params_formula="k",
)
class EfficientChannelAttention(nn.Module):
    def __init__(self, channels: int, *, kernel_size: int | str = "auto") -> None:
        super().__init__()
        k = eca_kernel_size(channels) if kernel_size == "auto" else int(kernel_size)
        self.kernel_size = k
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        y = self.pool(x)  # (B, C, 1, 1)
        y = self.conv(y.flatten(2).transpose(1, 2))  # (B, 1, C): conv along channels
        y = y.transpose(1, 2).unsqueeze(-1)  # (B, C, 1, 1)
        return x * self.gate(y)
