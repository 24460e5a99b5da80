"""Common random numbers for architecture comparisons: the backbone's weights do
not depend on which attention modules or convolutions a candidate chose.

``torch.manual_seed(s); build_model(arch)`` draws the weights of every layer
from one stream, in construction order, so an SE module in stage 1 shifts the
draws of every backbone layer after it: two candidates that differ in one
module differ in all their weights, and that difference is noise in every
comparison of their accuracies. Here the plain backbone is built from the
seed, the candidate from a stream of its own, and every backbone tensor of the
candidate is then copied from the plain network. Attention modules, and
convolutions replaced by another kind (ODConv), keep their own initialisation.

The copy walks the two module trees side by side, so it needs no knowledge of
a backbone's layer names; it follows the three ways a backbone puts a module in:
beside the branch under a name of its own (``resnet_cifar``'s ``attention``),
wrapping a layer as ``Sequential(layer, attention)`` (torchvision's pre_add,
post_add), or inserted into a ``Sequential`` (MobileNetV2's after_dw).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from models.attention import attention_classes

# the candidate's own stream: attention modules (and replaced convolutions) are
# initialised from it, never from the backbone's
_CANDIDATE_STREAM = 0x5EED_A77E


def _copy_direct(src: nn.Module, dst: nn.Module) -> int:
    """Copy ``src``'s own parameters and buffers into ``dst`` where names and shapes agree."""
    copied = 0
    own_src = dict(src.named_parameters(recurse=False)) | dict(src.named_buffers(recurse=False))
    own_dst = dict(dst.named_parameters(recurse=False)) | dict(dst.named_buffers(recurse=False))
    for name, t in own_dst.items():
        s = own_src.get(name)
        if s is not None and s.shape == t.shape and s.dtype == t.dtype:
            t.data.copy_(s.data)
            copied += t.numel()
    return copied


def _unwrap(dst: nn.Module, src: nn.Module) -> nn.Module:
    """``dst`` itself, or the layer it wraps as ``Sequential(layer, attention)``."""
    if (type(dst) is not type(src) and isinstance(dst, nn.Sequential) and len(dst) > 0
            and type(dst[0]) is type(src)):
        return dst[0]
    return dst


def copy_backbone_weights(src: nn.Module, dst: nn.Module,
                          replaced: Callable[[nn.Module, nn.Module], None] | None = None) -> int:
    """Copy every tensor of the plain backbone ``src`` into its place in ``dst``.

    Returns the number of elements copied. Modules of ``dst`` that ``src`` has
    no counterpart for (attention modules) and modules whose kind differs (a
    replaced convolution) are left as they are; ``replaced(src_layer, dst_layer)`` is called
    for the latter (``models.pretrained`` starts an ODConv from the trained convolution).
    """
    attention = attention_classes()
    dst = _unwrap(dst, src)
    if type(dst) is not type(src):
        if replaced is not None:
            replaced(src, dst)
        return 0
    copied = _copy_direct(src, dst)
    src_children = list(src.named_children())
    dst_children = list(dst.named_children())
    i = 0
    for _, s in src_children:
        # skip what the candidate inserted (an attention module where the plain network has none)
        while (i < len(dst_children) and isinstance(dst_children[i][1], attention)
               and not isinstance(s, (nn.Identity, *attention))):
            i += 1
        if i == len(dst_children):
            break
        copied += copy_backbone_weights(s, dst_children[i][1], replaced)
        i += 1
    return copied


def shared_init(plain: nn.Module, candidate: nn.Module,
                replaced: Callable[[nn.Module, nn.Module], None] | None = None) -> nn.Module:
    """``candidate`` with the backbone weights of ``plain`` (in place; returned); ``replaced``
    as in ``copy_backbone_weights``."""
    with torch.no_grad():
        copy_backbone_weights(plain, candidate, replaced)
    return candidate


def candidate_seed(seed: int) -> int:
    """The seed of the candidate's own stream (attention modules) for backbone seed ``seed``."""
    return (seed * 1_000_003 + _CANDIDATE_STREAM) % (2**63)
