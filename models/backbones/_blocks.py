"""What every backbone does with a ``StageChoice`` inside one block."""

from __future__ import annotations

from torch import nn

from models.architecture import StageChoice
from models.attention import create_attention
from models.convs import create_conv


def block_gets_attention(choice: StageChoice, index: int, count: int) -> bool:
    """Whether block ``index`` of a ``count``-block stage gets the module."""
    return (choice.blocks == "all"
            or (choice.blocks == "first" and index == 0)
            or (choice.blocks == "last" and index == count - 1))


def block_attention(choice: StageChoice, index: int, count: int, channels: int) -> nn.Module:
    """The attention module of block ``index`` (the identity where ``blocks`` leaves it out)."""
    if block_gets_attention(choice, index, count):
        return create_attention(choice.attention, channels, **dict(choice.hparams))
    return create_attention("none", channels)


def stage_conv(choice: StageChoice, in_channels: int, out_channels: int, stride: int,
               kernel_size: int = 3) -> nn.Module:
    """The stage's convolution (``standard`` or e.g. ``odconv``), padded to keep the size."""
    return create_conv(choice.conv, in_channels, out_channels, kernel_size, stride=stride,
                       padding=kernel_size // 2, **dict(choice.conv_hparams))
