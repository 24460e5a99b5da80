"""Omni-dimensional dynamic convolution (ODConv).

Li, Zhou, Yao, "Omni-Dimensional Dynamic Convolution", ICLR 2022.
https://arxiv.org/abs/2209.07947

``n`` candidate kernels of shape (Cout, Cin, k, k). Per sample, a squeeze
branch (global average pool, an FC to ``d = max(16, round(reduction*Cin))``
units with ReLU) predicts four attentions: over the k*k spatial positions, the
Cin input channels, the Cout filters (all sigmoids) and over the n kernels
(softmax; absent when n = 1). The kernel used for that sample is
``sum_i a_kernel[i] * a_spatial * W_i``; input channels are scaled before the
convolution and filters after it. Two equivalent computations: per-sample
kernels run as one grouped convolution over the batch (memory B*Cout*Cin*k*k),
or, in deep stages where that is larger, the unfolded input patches are scaled
by the spatial attention and multiplied by each candidate (memory
B*Cin*k*k*H*W); the cheaper one is chosen per call.

Departures from the reference code, on purpose: the squeeze FC has a bias and
no BatchNorm (a BatchNorm over one pooled vector fails at batch size 1 in
training), and the softmax temperature is fixed at 1 (the reference anneals it
only in its own training recipe).

Started from a trained convolution (``start_from``, what ``models.pretrained`` does when the
backbone has ``weights``): every candidate kernel is that convolution's, the attention
branches' last layers are zero (the kernel softmax uniform), and the three sigmoid attentions
become ``2 * sigmoid``, so each starts at exactly 1 and the layer computes the trained
convolution; the gates then range over (0, 2) instead of (0, 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.convs._registry import register_conv
from models.hparams import FloatRange, HParam, OneOf


@register_conv(
    "odconv",
    hparams=(
        HParam("kernel_num", OneOf((1, 4)), 4, "n", "number of candidate kernels"),
        HParam("reduction", FloatRange(0.0, 1.0), 0.0625, "ratio",
               "squeeze width as a fraction of Cin (at least 16)"),
    ),
    paper="Omni-Dimensional Dynamic Convolution",
    url="https://arxiv.org/abs/2209.07947",
    params_formula=("n*Cout*Cin*k*k + (Cin*d + d) + (d*Cin + Cin) + (d*Cout + Cout) "
                    "+ (d*k*k + k*k) + [n > 1]*(d*n + n), d = max(16, round(reduction*Cin))"),
)
class ODConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 stride: int = 1, padding: int = 0, kernel_num: int = 4,
                 reduction: float = 0.0625) -> None:
        super().__init__()
        d = max(16, int(round(reduction * in_channels)))
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.kernel_num = kernel_num
        # (n*Cout, Cin, k, k): kept 4-D so that the model converts to channels_last
        self.weight = nn.Parameter(torch.empty(kernel_num * out_channels, in_channels,
                                               kernel_size, kernel_size))
        for w in self.weight.data.chunk(kernel_num):  # each candidate inits as a conv of its own
            nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
        self.squeeze = nn.Sequential(nn.Conv2d(in_channels, d, 1), nn.ReLU(inplace=True))
        self.channel_fc = nn.Conv2d(d, in_channels, 1)
        self.filter_fc = nn.Conv2d(d, out_channels, 1)
        self.spatial_fc = nn.Conv2d(d, kernel_size * kernel_size, 1)
        self.kernel_fc = nn.Conv2d(d, kernel_num, 1) if kernel_num > 1 else None
        self.gate_scale = 1.0  # 2.0 once started from a trained convolution (start_from)

    @torch.no_grad()
    def start_from(self, weight: Tensor) -> None:
        """Become the convolution with ``weight`` (Cout, Cin, k, k): see the module docstring."""
        if weight.shape != (self.out_channels, self.in_channels, self.kernel_size, self.kernel_size):
            raise ValueError(f"ODConv2d.start_from: weight {tuple(weight.shape)} does not fit "
                             f"{self.out_channels}x{self.in_channels}x{self.kernel_size}x{self.kernel_size}")
        self.weight.copy_(weight.repeat(self.kernel_num, 1, 1, 1))
        for fc in (self.channel_fc, self.filter_fc, self.spatial_fc, self.kernel_fc):
            if fc is not None:
                fc.weight.zero_()
                fc.bias.zero_()
        self.gate_scale = 2.0

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, kernel_num={self.kernel_num}")

    def _attentions(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        b = x.shape[0]
        s = self.squeeze(x.mean(dim=(2, 3), keepdim=True))  # (B, d, 1, 1)
        g = self.gate_scale
        a_channel = g * torch.sigmoid(self.channel_fc(s))  # (B, Cin, 1, 1)
        a_filter = g * torch.sigmoid(self.filter_fc(s)).reshape(b, self.out_channels, 1, 1)
        a_spatial = g * torch.sigmoid(self.spatial_fc(s)).reshape(b, self.kernel_size ** 2)
        a_kernel = (self.kernel_fc(s).reshape(b, self.kernel_num).softmax(dim=1)
                    if self.kernel_fc is not None else None)
        return a_channel, a_filter, a_spatial, a_kernel

    def forward(self, x: Tensor, *, path: str | None = None) -> Tensor:
        """``path`` forces ``kernels`` or ``unfold`` (for tests); by default the one
        that holds fewer numbers for this input is used. Both compute the same."""
        b, c, h, w = x.shape
        k, n, cout = self.kernel_size, self.kernel_num, self.out_channels
        ho = (h + 2 * self.padding - k) // self.stride + 1
        wo = (w + 2 * self.padding - k) // self.stride + 1
        a_channel, a_filter, a_spatial, a_kernel = self._attentions(x)
        xs = x * a_channel
        if path is None:  # per-sample kernels hold B*Cout*Cin*k*k numbers, patches B*Cin*k*k*L
            path = "kernels" if cout <= ho * wo else "unfold"
        if path == "kernels":
            # mix the n candidates first (never B x n kernels at once), then one grouped conv
            candidates = self.weight.reshape(n, -1)
            mixed = a_kernel @ candidates if a_kernel is not None else candidates.expand(b, -1)
            weight = mixed.reshape(b, cout, c, k * k) * a_spatial.reshape(b, 1, 1, k * k)
            out = F.conv2d(xs.reshape(1, b * c, h, w),
                           weight.reshape(b * cout, c, k, k).to(xs.dtype), None,
                           self.stride, self.padding, groups=b)
            return out.reshape(b, cout, ho, wo) * a_filter
        # deep stages (many channels, few positions): scale the patches, not the kernels
        patches = F.unfold(xs, k, padding=self.padding, stride=self.stride)  # (B, Cin*k*k, L)
        patches = (patches.reshape(b, c, k * k, ho * wo) * a_spatial.reshape(b, 1, k * k, 1))
        # one GEMM for all n candidates over the whole batch: (n*Cout, Cin*k*k) @ (Cin*k*k, B*L)
        patches = patches.reshape(b, c * k * k, ho * wo).transpose(0, 1).reshape(c * k * k, -1)
        out = (self.weight.reshape(n * cout, c * k * k).to(patches.dtype) @ patches)
        out = out.reshape(n, cout, b, ho * wo)
        out = out[0] if a_kernel is None else torch.einsum("bn,ncbl->cbl", a_kernel.to(out.dtype), out)
        out = out.transpose(0, 1)
        return out.reshape(b, cout, ho, wo) * a_filter
