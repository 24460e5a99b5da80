"""``IdentityStart``: an attention module that starts as the identity, for trained backbones.

Inserted into a trained network, a module in its paper's form changes what every later layer
sees (SE's sigmoid gates start near 0.5 and halve each channel; a spatial gate reweights
positions), and fine-tuning must first repair that. Wrapped as

    y = x + scale * (f(x) - x),    scale a learned scalar, zero at the start

(ReZero: Bachlechner et al., "ReZero is All You Need", 2020, https://arxiv.org/abs/2003.04887)
the network computes exactly what it did before the insertion until ``scale`` moves; at
``scale = 1`` it is the paper's module. The first step's gradient reaches ``scale`` alone (the
module's own weights get theirs once ``scale`` is not zero). ``models.pretrained`` wraps every
module of a backbone built from ``weights``; from random weights the paper's form is kept.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class IdentityStart(nn.Module):
    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.scale = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.scale * (self.module(x) - x)
