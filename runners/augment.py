"""Batch augmentation on the training device, seeded by the trainer's generator: random crops
after zero padding, horizontal flips and random erasing of uint8 batches
(``runners.trainer.train_proxy``)."""

from __future__ import annotations

import math

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


# Random Erasing (Zhong et al., AAAI 2020), the settings of its Fashion-MNIST records: the box
# covers 2-40% of the image, its aspect ratio is between 0.3 and 1/0.3 (log-uniform), and it is
# filled with uniform random values
ERASE_AREA = (0.02, 0.4)
ERASE_ASPECT = (0.3, 1 / 0.3)


def random_erase(x: Tensor, prob: float, g: torch.Generator) -> Tensor:
    """Each image of a uint8 batch, with probability ``prob``, gets one box of random pixels
    (all channels): area a uniform fraction of ``ERASE_AREA`` of the image (rounded down, at
    least one pixel, at most the image's side), aspect ratio log-uniform in ``ERASE_ASPECT``,
    placed uniformly inside the image."""
    b, _, h, w = x.shape
    dev = g.device

    def uniform(lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=g, device=dev)

    area = uniform(*ERASE_AREA) * (h * w)
    aspect = uniform(*(math.log(v) for v in ERASE_ASPECT)).exp()
    bh = (area * aspect).sqrt().floor().clamp(1, h)
    bw = (area / aspect).sqrt().floor().clamp(1, w)
    y0 = (uniform(0.0, 1.0) * (h - bh + 1)).floor()
    x0 = (uniform(0.0, 1.0) * (w - bw + 1)).floor()
    chosen = torch.rand(b, generator=g, device=dev) < prob
    rows = torch.arange(h, device=dev)
    cols = torch.arange(w, device=dev)
    in_rows = (rows >= y0[:, None]) & (rows < (y0 + bh)[:, None])  # (B, H)
    in_cols = (cols >= x0[:, None]) & (cols < (x0 + bw)[:, None])  # (B, W)
    mask = (in_rows[:, :, None] & in_cols[:, None, :] & chosen[:, None, None])[:, None].to(x.device)
    noise = torch.randint(0, 256, x.shape, generator=g, device=dev, dtype=torch.uint8).to(x.device)
    return torch.where(mask, noise, x)
