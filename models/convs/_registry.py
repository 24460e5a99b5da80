"""The per-stage convolution registry: what replaces a block's 3x3 convolutions.

Unlike an attention module, which is inserted after a convolution, a
convolution choice *replaces* the 3x3 convolutions of every block of a stage
(both in a BasicBlock, the middle one in a Bottleneck). ``standard`` is the
plain ``nn.Conv2d``. Every entry is built as
``cls(in_channels, out_channels, kernel_size, *, stride, padding, **hparams)``
without a bias (a BatchNorm follows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from models.hparams import HParam
from models.registry import ModuleSpec, Registry


@dataclass(frozen=True)
class ConvSpec(ModuleSpec):
    """A registered convolution (see ``ModuleSpec``)."""


_REGISTRY: Registry[ConvSpec] = Registry("conv", first="standard")


def register_conv(name: str, *, hparams: tuple[HParam, ...] = (), paper: str, url: str,
                  params_formula: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator that registers a convolution under ``name``."""

    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        _REGISTRY.add(ConvSpec(kind="conv", name=name, cls=cls, hparams=hparams, paper=paper,
                               url=url, params_formula=params_formula))
        return cls

    return wrap


def conv_names() -> tuple[str, ...]:
    """Registered convolution names, ``standard`` first."""
    return _REGISTRY.names()


def get_conv_spec(name: str) -> ConvSpec:
    """Raises ValueError for an unknown name, listing the registered ones."""
    return _REGISTRY.get(name)


def create_conv(name: str, in_channels: int, out_channels: int, kernel_size: int, *,
                stride: int = 1, padding: int = 0, **hparams: Any) -> nn.Module:
    """Build convolution ``name``; missing hyper-parameters take the paper defaults.

    Raises:
        ValueError: unknown name, hyper-parameter or value, listing what is allowed.
    """
    spec = get_conv_spec(name)
    return spec.cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                    **spec.canonical_hparams(hparams))


def conv_catalog() -> dict[str, dict[str, HParam]]:
    """Name -> hyper-parameter name -> ``HParam``; what the space validator reads."""
    return _REGISTRY.catalog()


@register_conv("standard", paper="(plain convolution)", url="",
               params_formula="Cout*Cin*k*k")
class StandardConv(nn.Conv2d):
    """``nn.Conv2d`` without bias, under the registry's constructor signature."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 stride: int = 1, padding: int = 0) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=False)
