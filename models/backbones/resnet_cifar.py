"""The CIFAR-style ResNet of He et al. (depth 6n+2, three stages).

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
section 4.2. https://arxiv.org/abs/1512.03385

Stages have ``width``, ``2*width`` and ``4*width`` channels at full, 1/2 and
1/4 resolution, ``n = (depth-2)/6`` BasicBlocks each. Shortcuts that change
shape are 1x1 conv + BatchNorm (option B). Each block holds an attention slot:
``pre_add`` applies it to the residual branch after its last BatchNorm, before
the addition; ``post_add`` after the addition and its ReLU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from models.architecture import Architecture, StageChoice
from models.backbones._blocks import block_attention, stage_conv
from models.backbones._registry import StageInfo, register_backbone
from models.hparams import HParam, IntRange, OneOf

DEPTHS = (8, 14, 20, 32, 44, 56)


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int,
                 attention: nn.Module, choice: StageChoice) -> None:
        """``attention`` is inserted at ``choice.position``; ``choice.conv`` builds both 3x3s."""
        super().__init__()
        self.conv1 = stage_conv(choice, in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = stage_conv(choice, channels, channels, 1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                nn.BatchNorm2d(channels),
            )
        self.attention = attention
        self.position = choice.position

    def extra_repr(self) -> str:
        return f"position={self.position}"

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.position == "pre_add":
            out = self.attention(out)
        out = self.relu(out + self.shortcut(x))
        if self.position == "post_add":
            out = self.attention(out)
        return out


def _stages(settings: Mapping[str, Any], input_size: int) -> list[StageInfo]:
    n = (settings["depth"] - 2) // 6
    w = settings["width"]
    sizes = [input_size, (input_size + 1) // 2, ((input_size + 1) // 2 + 1) // 2]
    return [StageInfo(f"stage{i + 1}", w * 2**i, sizes[i], n) for i in range(3)]


@register_backbone(
    "resnet_cifar",
    settings=(
        HParam("depth", OneOf(DEPTHS), 20, "d", "6n+2 layers, n BasicBlocks per stage"),
        HParam("width", IntRange(4, 256), 16, "w", "channels of the first stage"),
    ),
    stages=_stages,
    doc="CIFAR ResNet (He et al. 2016, sec. 4.2): 3 stages of BasicBlocks, depth 6n+2",
    parts=lambda settings: [("stem.",), ("stages.0.",), ("stages.1.",), ("stages.2.",)],
)
class ResNetCifar(nn.Module):
    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        settings = dict(arch.backbone_args)
        stages = _stages(settings, arch.input_size)
        w = settings["width"]
        self.stem = nn.Sequential(
            nn.Conv2d(arch.in_channels, w, 3, 1, 1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
        )
        layers = []
        in_ch = w
        for i, (info, choice) in enumerate(zip(stages, arch.stages, strict=True)):
            blocks = []
            for b in range(info.blocks):
                attn = block_attention(choice, b, info.blocks, info.channels)
                stride = 2 if (b == 0 and i > 0) else 1
                blocks.append(BasicBlock(in_ch, info.channels, stride, attn, choice))
                in_ch = info.channels
            layers.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, arch.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x))
        return self.fc(self.pool(x).flatten(1))

