"""Hyper-parameter domains of attention modules and backbones.

Torch-free on purpose: the space validator (``spaces``) and the sampler
(``search``) read these domains to check a space file against the registry
without building a layer. A domain says whether one value is allowed and
describes the allowed values in words for error messages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class IntRange:
    """An integer in ``[low, high]`` (``high=None``: unbounded)."""

    low: int
    high: int | None = None

    def check(self, value: Any) -> bool:
        return _is_int(value) and value >= self.low and (self.high is None or value <= self.high)

    def describe(self) -> str:
        if self.high is None:
            return f"an integer >= {self.low}"
        return f"an integer in [{self.low}, {self.high}]"


@dataclass(frozen=True)
class FloatRange:
    """A number in the half-open interval ``(low, high]``."""

    low: float
    high: float

    def check(self, value: Any) -> bool:
        return _is_number(value) and self.low < value <= self.high

    def describe(self) -> str:
        return f"a number in ({self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class OddKernel:
    """An odd integer kernel size >= 1, or ``"auto"`` when ``allow_auto``."""

    allow_auto: bool = False

    def check(self, value: Any) -> bool:
        if value == "auto":
            return self.allow_auto
        return _is_int(value) and value >= 1 and value % 2 == 1

    def describe(self) -> str:
        return "an odd integer >= 1" + (' or "auto"' if self.allow_auto else "")


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values."""

    values: tuple[Any, ...] = field(default_factory=tuple)

    def check(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


Domain = IntRange | FloatRange | OddKernel | OneOf


@dataclass(frozen=True)
class HParam:
    """One hyper-parameter of a module: its domain, paper default and short label.

    ``short`` is the label used in compact architecture strings, e.g. ``r`` in
    ``se(r=16)``.
    """

    name: str
    domain: Domain
    default: Any
    short: str
    doc: str = ""

    def __post_init__(self) -> None:
        if not self.domain.check(self.default):
            raise ValueError(
                f"default {self.default!r} of hyper-parameter {self.name!r} is not "
                f"{self.domain.describe()}"
            )


def canonical_values(params: tuple[HParam, ...], given: Mapping[str, Any], *, owner: str,
                     noun: str = "hyper-parameter") -> dict[str, Any]:
    """Check ``given`` against ``params`` and fill in the defaults, in ``params`` order.

    ``owner`` names the thing in messages (``attention 'se'``, ``backbone 'resnet18'``).

    Raises:
        ValueError: an unknown name, or a value outside its domain, saying what is allowed.
    """
    known = {h.name: h for h in params}
    for key in given:
        if key not in known:
            raise ValueError(f"{owner} has no {noun} {key!r}; valid: {', '.join(known) or 'none'}")
    out: dict[str, Any] = {}
    for h in params:
        value = given.get(h.name, h.default)
        if not h.domain.check(value):
            raise ValueError(f"{owner}: {h.name}={value!r} is invalid; allowed: {h.domain.describe()}")
        out[h.name] = value
    return out
