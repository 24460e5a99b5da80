"""Bottleneck widths that never collapse on narrow stages."""

from __future__ import annotations


def reduced_width(channels: int, divisor: float, *, minimum: int = 4) -> int:
    """``channels / divisor`` rounded, but at least ``minimum`` (and at most ``channels``).

    A CIFAR ResNet's first stage has 16 channels: the textbook ``C // 16`` gives
    a one-unit bottleneck there, ``C // 32`` gives zero.
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    return min(channels, max(minimum, int(round(channels / divisor))))
