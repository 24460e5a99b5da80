"""Global Context block.

Cao et al., "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and
Beyond", ICCVW 2019. https://arxiv.org/abs/1904.11492

Attention pooling (a 1x1 conv to one map, softmax over all positions, weighted
sum of the features) gives one global context vector; a bottleneck transform
(1x1 conv to ``ratio*C``, LayerNorm, ReLU, 1x1 conv back to C) is fused into
every position by addition (``fusion="add"``, the paper's default) or by a
sigmoid-gated multiplication (``"mul"``). ``ratio`` is a fraction of the
channels (1/16 in the paper), not a divisor.

In a backbone started from trained weights (``backbone.weights``) the module is wrapped as
``x + scale * (f(x) - x)`` with ``scale`` zero (``models.attention._identity``), so the network
computes what it did before: with fusion add the context term is added to every position from
the start; with mul the gate starts near 0.5. The formula above holds at ``scale = 1``; from
random weights the module is used unwrapped.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.attention._registry import register_attention
from models.attention._width import reduced_width
from models.hparams import FloatRange, HParam, OneOf


@register_attention(
    "gc",
    hparams=(
        HParam("ratio", FloatRange(0.0, 1.0), 0.0625, "ratio",
               "bottleneck width as a fraction of C"),
        HParam("fusion", OneOf(("add", "mul")), "add", "fusion",
               "how the context joins each position"),
    ),
    paper="GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond",
    url="https://arxiv.org/abs/1904.11492",
    params_formula="C + 1 + 2*C*h + h + C + 2*h, h = max(4, round(ratio*C))",
)
class GlobalContext(nn.Module):
    def __init__(self, channels: int, *, ratio: float = 0.0625, fusion: str = "add") -> None:
        super().__init__()
        if fusion not in ("add", "mul"):
            raise ValueError(f"fusion must be 'add' or 'mul', got {fusion!r}")
        hidden = reduced_width(channels, 1.0 / ratio)
        self.fusion = fusion
        self.attn_conv = nn.Conv2d(channels, 1, 1)
        self.transform = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.LayerNorm([hidden, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )

    def extra_repr(self) -> str:
        return f"fusion={self.fusion}"

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        weights = self.attn_conv(x).reshape(b, 1, h * w).softmax(dim=-1)  # (B, 1, HW)
        context = torch.bmm(x.reshape(b, c, h * w), weights.transpose(1, 2))  # (B, C, 1)
        t = self.transform(context.reshape(b, c, 1, 1))
        if self.fusion == "add":
            return x + t
        return x * torch.sigmoid(t)
