"""Batch augmentation on the training device, seeded by the trainer's generator: random crops
after zero padding and horizontal flips of uint8 batches (``runners.trainer.train_proxy``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop(x: Tensor, pad: int, g: torch.Generator) -> Tensor:
    """Per-sample random crop of a uint8 batch after zero padding, by gather."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=g, device=g.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=g, device=g.device).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    hwc = padded.permute(0, 2, 3, 1)
    out = hwc[torch.arange(b, device=x.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


def random_flip(x: Tensor, g: torch.Generator) -> Tensor:
    """Each image of a batch mirrored left-right with probability 1/2."""
    mask = (torch.rand(x.shape[0], generator=g, device=g.device) < 0.5).to(x.device)
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)
