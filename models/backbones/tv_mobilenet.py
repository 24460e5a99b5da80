"""torchvision's MobileNetV2 with per-stage attention choices.

Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted Residuals and
Linear Bottlenecks", CVPR 2018. https://arxiv.org/abs/1801.04381

Stages are the runs of inverted residual blocks at one output resolution
(a stride-2 block starts a new stage): five stages, the fourth and fifth mixing
two widths (64/96 and 160/320 channels at ``width: 1.0``). The attention
module of a block is built for that block's own width. Positions, by
composition of torchvision's submodules:

- ``after_dw`` (the coordinate-attention paper's position): inserted after the
  depthwise conv + BN + ReLU6, on the expanded width.
- ``pre_add``: after the projection conv's BatchNorm, before the residual add.
- ``post_add``: after the whole block.

The 3x3 convolutions are depthwise, so there is no convolution choice here.
``stem: small`` (default, for 28-32 px) makes the first conv stride 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torchvision
from torch import nn
from torchvision.ops.misc import Conv2dNormActivation

from models.architecture import Architecture
from models.backbones._blocks import block_attention, block_gets_attention
from models.backbones._registry import StageInfo, register_backbone
from models.hparams import HParam, OneOf

# torchvision's inverted residual setting: expansion t, channels c, repeats n, stride s
SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.4)


def _divisible(v: float, divisor: int = 8) -> int:
    """Channel rounding of the MobileNet papers (as torchvision does it)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _block_table(width: float) -> list[tuple[int, int]]:
    """(output channels, stride) of each inverted residual block."""
    out = []
    for _, c, n, s in SETTING:
        for i in range(n):
            out.append((_divisible(c * width), s if i == 0 else 1))
    return out


def _stage_slices(table: list[tuple[int, int]]) -> list[list[int]]:
    """Block indices of each stage: a stride-2 block starts a new one."""
    groups: list[list[int]] = []
    for i, (_, stride) in enumerate(table):
        if stride == 2 or not groups:
            groups.append([])
        groups[-1].append(i)
    return groups


def _stages(settings: Mapping[str, Any], input_size: int) -> list[StageInfo]:
    table = _block_table(settings["width"])
    size = input_size if settings["stem"] == "small" else (input_size + 1) // 2
    out = []
    for i, idx in enumerate(_stage_slices(table)):
        if table[idx[0]][1] == 2:
            size = (size + 1) // 2
        out.append(StageInfo(f"stage{i + 1}", table[idx[-1]][0], size, len(idx)))
    return out


def _parts(settings: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The stem (``features.0``), then each stage's blocks; the last 1x1 convolution before
    the classifier (``features.18``) goes with the last stage."""
    slices = _stage_slices(_block_table(settings["width"]))
    parts = [("features.0.",)] + [tuple(f"features.{1 + i}." for i in idx) for idx in slices]
    parts[-1] += (f"features.{2 + slices[-1][-1]}.",)
    return parts


def _insert(block: nn.Module, attention_for: Callable[[int], nn.Module], position: str) -> nn.Module:
    """Put the module built by ``attention_for(channels)`` at ``position`` of ``block``."""
    layers = list(block.conv)
    if position == "post_add":
        return nn.Sequential(block, attention_for(block.out_channels))
    if position == "pre_add":
        block.conv = nn.Sequential(*layers, attention_for(block.out_channels))
        return block
    dw = next(i for i, m in enumerate(layers)
              if isinstance(m, Conv2dNormActivation) and m[0].groups > 1)
    hidden = layers[dw][0].out_channels
    block.conv = nn.Sequential(*layers[:dw + 1], attention_for(hidden), *layers[dw + 1:])
    return block


@register_backbone(
    "mobilenet_v2",
    settings=(
        HParam("width", OneOf(WIDTHS), 1.0, "w", "width multiplier"),
        HParam("stem", OneOf(("small", "imagenet")), "small", "stem",
               "small: first conv stride 1 (28-32 px); imagenet: stride 2"),
    ),
    stages=_stages,
    doc="torchvision MobileNetV2, inverted residuals grouped by resolution into stages 1-5",
    positions=("after_dw", "pre_add", "post_add"),
    convs=False,
    parts=_parts,
)
def _build(arch: Architecture) -> nn.Module:
    settings = dict(arch.backbone_args)
    model = torchvision.models.mobilenet_v2(weights=None, num_classes=arch.num_classes,
                                            width_mult=settings["width"])
    stem: nn.Conv2d = model.features[0][0]
    stride = 1 if settings["stem"] == "small" else 2
    if stride != 2 or arch.in_channels != 3:
        model.features[0][0] = nn.Conv2d(arch.in_channels, stem.out_channels, 3, stride, 1,
                                         bias=False)
        nn.init.kaiming_normal_(model.features[0][0].weight, mode="fan_out")
    for idx, choice in zip(_stage_slices(_block_table(settings["width"])), arch.stages, strict=True):
        if choice.attention == "none":
            continue
        for b, i in enumerate(idx):
            if not block_gets_attention(choice, b, len(idx)):
                continue
            build = functools.partial(block_attention, choice, b, len(idx))
            model.features[1 + i] = _insert(model.features[1 + i], build, choice.position)
    return model
