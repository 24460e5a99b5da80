"""SimAM: a parameter-free attention module.

Yang, Zhang, Li, Xie, "SimAM: A Simple, Parameter-Free Attention Module for
Convolutional Neural Networks", ICML 2021.
http://proceedings.mlr.press/v139/yang21o.html

Each neuron's importance is the inverse of its minimal energy
``e = (x - mu)^2 / (4 (var + lambda)) + 1/2``, with mean and variance taken
over the other H*W - 1 positions of its channel; the input is gated by
``sigmoid(e)``. On a 1x1 map there are no other positions: the variance
divisor is clamped to 1 (so the copies' 0/0 NaN cannot happen) and every
neuron gets the neutral gate sigmoid(1/2).

In a backbone started from trained weights (``backbone.weights``) the module is wrapped as
``x + scale * (f(x) - x)`` with ``scale`` zero (``models.attention._identity``), so the network
computes what it did before: parameter-free: without a scale it would gate the trained features
from the first step. The formula above holds at ``scale = 1``; from random weights the module
is used unwrapped.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.attention._registry import register_attention
from models.hparams import FloatRange, HParam


@register_attention(
    "simam",
    hparams=(HParam("lam", FloatRange(0.0, 1.0), 1e-4, "lam",
                    "regulariser of the energy function"),),
    paper="SimAM: A Simple, Parameter-Free Attention Module for Convolutional Neural Networks",
    url="http://proceedings.mlr.press/v139/yang21o.html",
    params_formula="0",
)
class SimAM(nn.Module):
    def __init__(self, channels: int, *, lam: float = 1e-4) -> None:
        super().__init__()
        self.lam = lam

    def extra_repr(self) -> str:
        return f"lam={self.lam:g}"

    def forward(self, x: Tensor) -> Tensor:
        n = max(x.shape[2] * x.shape[3] - 1, 1)
        d = (x - x.mean(dim=(2, 3), keepdim=True)).square()
        var = d.sum(dim=(2, 3), keepdim=True) / n
        energy_inv = d / (4 * (var + self.lam)) + 0.5
        return x * torch.sigmoid(energy_inv)
