"""torchvision's ResNet-18/34/50 with per-stage attention and convolution choices.

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
https://arxiv.org/abs/1512.03385

torchvision builds the network with random weights (``backbone.weights`` loads trained ones
afterwards, never downloading them: ``models.pretrained``); the stage choices are put into its
blocks by composition, without copying torchvision's code:

- ``pre_add``: the block's last BatchNorm (``bn2`` of a BasicBlock, ``bn3`` of
  a Bottleneck) becomes ``Sequential(bn, attention)``, so the module sees the
  residual branch before the addition.
- ``post_add``: the block becomes ``Sequential(block, attention)``.
- A convolution choice replaces the 3x3 convolutions (``conv1`` and ``conv2``
  of a BasicBlock, ``conv2`` of a Bottleneck) with the same shape and stride.

``stem: small`` (the default, for 28-32 px inputs) replaces the 7x7 stride-2
stem and its max-pool by a 3x3 stride-1 conv, as CIFAR ResNets do; ``stem:
imagenet`` keeps them. The exported config always states which.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from models.architecture import Architecture
from models.backbones._blocks import block_attention, block_gets_attention, stage_conv
from models.backbones._registry import StageInfo, register_backbone
from models.hparams import HParam, OneOf

STEMS = ("small", "imagenet")


def _half(size: int) -> int:
    """Output side of a stride-2 conv or pool with 'same' padding."""
    return (size + 1) // 2


def _stages_for(blocks: tuple[int, ...], expansion: int) -> Callable[[Mapping[str, Any], int],
                                                                       list[StageInfo]]:
    def stages(settings: Mapping[str, Any], input_size: int) -> list[StageInfo]:
        size = input_size if settings["stem"] == "small" else _half(_half(input_size))
        out = []
        for i, n in enumerate(blocks):
            if i > 0:
                size = _half(size)
            out.append(StageInfo(f"layer{i + 1}", 64 * 2**i * expansion, size, n))
        return out

    return stages


def _last_bn(block: nn.Module) -> str:
    """Name of the residual branch's last BatchNorm."""
    return "bn3" if isinstance(block, Bottleneck) else "bn2"


def _insert_attention(block: nn.Module, attention: nn.Module, position: str) -> nn.Module:
    if position == "post_add":
        return nn.Sequential(block, attention)
    setattr(block, _last_bn(block), nn.Sequential(getattr(block, _last_bn(block)), attention))
    return block


def _replace_convs(block: nn.Module, choice: Any) -> None:
    names = ("conv2",) if isinstance(block, Bottleneck) else ("conv1", "conv2")
    for name in names:
        old: nn.Conv2d = getattr(block, name)
        setattr(block, name, stage_conv(choice, old.in_channels, old.out_channels, old.stride[0]))


def _builder(factory: Callable[..., nn.Module]) -> Callable[[Architecture], nn.Module]:
    def build(arch: Architecture) -> nn.Module:
        settings = dict(arch.backbone_args)
        model = factory(weights=None, num_classes=arch.num_classes)
        if settings["stem"] == "small":
            model.conv1 = nn.Conv2d(arch.in_channels, 64, 3, 1, 1, bias=False)
            model.maxpool = nn.Identity()
        elif arch.in_channels != 3:
            model.conv1 = nn.Conv2d(arch.in_channels, 64, 7, 2, 3, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
        layers = [model.layer1, model.layer2, model.layer3, model.layer4]
        for layer, choice in zip(layers, arch.stages, strict=True):
            count = len(layer)
            for b in range(count):
                block = layer[b]
                assert isinstance(block, (BasicBlock, Bottleneck))
                if choice.conv != "standard":
                    _replace_convs(block, choice)
                if choice.attention != "none" and block_gets_attention(choice, b, count):
                    attn = block_attention(choice, b, count, getattr(block, _last_bn(block)).num_features)
                    layer[b] = _insert_attention(block, attn, choice.position)
        return model

    return build


_SETTINGS = (HParam("stem", OneOf(STEMS), "small", "stem",
                    "small: 3x3 stride-1 conv, no max-pool (28-32 px); imagenet: 7x7/2 + max-pool"),)

for _name, _blocks, _expansion, _factory, _kind in (
    ("resnet18", (2, 2, 2, 2), 1, torchvision.models.resnet18, "BasicBlock"),
    ("resnet34", (3, 4, 6, 3), 1, torchvision.models.resnet34, "BasicBlock"),
    ("resnet50", (3, 4, 6, 3), 4, torchvision.models.resnet50, "Bottleneck"),
):
    register_backbone(
        _name,
        settings=_SETTINGS,
        stages=_stages_for(_blocks, _expansion),
        doc=f"torchvision {_name} ({_kind}s {'/'.join(map(str, _blocks))}), stages layer1-layer4",
        parts=lambda settings: [("conv1.", "bn1."), ("layer1.",), ("layer2.",), ("layer3.",), ("layer4.",)],
    )(_builder(_factory))
