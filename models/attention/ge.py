"""Gather-Excite, the parameter-free variant (GE-theta-minus).

Hu, Shen, Albanie, Sun, Vedaldi, "Gather-Excite: Exploiting Feature Context in
Convolutional Neural Networks", NeurIPS 2018. https://arxiv.org/abs/1810.12348

Gather: average each channel over windows of ``extent`` x ``extent``
positions (``global``: the whole map, the paper's best parameter-free
setting); excite: resize the gathered map back to H x W by nearest
neighbour and gate the input by its sigmoid. Windows are adaptive
(``ceil(H/extent)`` cells), so an extent larger than the map is one global
cell rather than an error.

In a backbone started from trained weights (``backbone.weights``) the module is wrapped as
``x + scale * (f(x) - x)`` with ``scale`` zero (``models.attention._identity``), so the network
computes what it did before: parameter-free: without a scale it would rescale the trained
features from the first step. The formula above holds at ``scale = 1``; from random weights the
module is used unwrapped.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.attention._registry import register_attention
from models.hparams import HParam, OneOf


@register_attention(
    "ge",
    hparams=(HParam("extent", OneOf(("global", 2, 4, 8)), "global", "e",
                    "gather window side in positions, or the whole map"),),
    paper="Gather-Excite: Exploiting Feature Context in Convolutional Neural Networks",
    url="https://arxiv.org/abs/1810.12348",
    params_formula="0",
)
class GatherExcite(nn.Module):
    def __init__(self, channels: int, *, extent: int | str = "global") -> None:
        super().__init__()
        self.extent = extent

    def extra_repr(self) -> str:
        return f"extent={self.extent}"

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[2], x.shape[3]
        if self.extent == "global":
            return x * torch.sigmoid(x.mean(dim=(2, 3), keepdim=True))
        e = int(self.extent)
        gathered = F.adaptive_avg_pool2d(x, (math.ceil(h / e), math.ceil(w / e)))
        return x * torch.sigmoid(F.interpolate(gathered, size=(h, w), mode="nearest"))
