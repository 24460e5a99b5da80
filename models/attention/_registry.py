"""The attention registry: the single source of truth for module names,
hyper-parameters, their allowed values and paper defaults.

The space validator, the sampler, the README's module table and the tests all
read it. An unknown name or hyper-parameter, or a value outside its domain, is a
``ValueError`` that lists what is valid: in a search, a silently ignored
hyper-parameter wastes trials and corrupts importance plots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from models.hparams import HParam


@dataclass(frozen=True)
class AttentionSpec:
    """What the registry knows about one attention module.

    Attributes:
        name: Lowercase registry key.
        cls: The ``nn.Module`` class, constructed as ``cls(channels, **hparams)``.
        hparams: The hyper-parameters, in constructor order.
        paper: Title of the paper that introduced it.
        url: Link to the paper.
        params_formula: The parameter count in closed form, for the README.
        max_positions: Largest ``H*W`` the module may be placed at (cost grows
            with positions squared), ``None`` for no limit.
    """

    name: str
    cls: type[nn.Module]
    hparams: tuple[HParam, ...]
    paper: str
    url: str
    params_formula: str
    max_positions: int | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.hparams}

    def hparam(self, name: str) -> HParam:
        for h in self.hparams:
            if h.name == name:
                return h
        valid = ", ".join(h.name for h in self.hparams) or "none"
        raise ValueError(
            f"attention {self.name!r} has no hyper-parameter {name!r}; valid: {valid}"
        )

    def canonical_hparams(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``hparams`` and fill in paper defaults, in constructor order."""
        for key in hparams:
            self.hparam(key)
        out: dict[str, Any] = {}
        for h in self.hparams:
            value = hparams.get(h.name, h.default)
            if not h.domain.check(value):
                raise ValueError(
                    f"attention {self.name!r}: {h.name}={value!r} is invalid; "
                    f"allowed: {h.domain.describe()}"
                )
            out[h.name] = value
        return out


_REGISTRY: dict[str, AttentionSpec] = {}


def register_attention(
    name: str,
    *,
    hparams: tuple[HParam, ...] = (),
    paper: str,
    url: str,
    params_formula: str,
    max_positions: int | None = None,
) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator that registers an attention module under ``name``.

    Raises:
        ValueError: if ``name`` is already registered or not lowercase.
    """

    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"attention {name!r} is already registered")
        if name != name.lower() or not name.isidentifier():
            raise ValueError(f"attention name {name!r} must be a lowercase identifier")
        _REGISTRY[name] = AttentionSpec(
            name=name,
            cls=cls,
            hparams=hparams,
            paper=paper,
            url=url,
            params_formula=params_formula,
            max_positions=max_positions,
        )
        return cls

    return wrap


def attention_names() -> tuple[str, ...]:
    """Registered attention names, ``none`` first then alphabetical."""
    return tuple(sorted(_REGISTRY, key=lambda n: (n != "none", n)))


def get_attention_spec(name: str) -> AttentionSpec:
    """The spec registered under ``name``.

    Raises:
        ValueError: for an unknown name, listing the registered ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown attention {name!r}; valid: {', '.join(attention_names())}"
        ) from None


def create_attention(name: str, channels: int, **hparams: Any) -> nn.Module:
    """Build the attention module ``name`` for ``channels`` channels.

    Missing hyper-parameters take the paper defaults.

    Raises:
        ValueError: for an unknown name, an unknown hyper-parameter, or a value
            outside its domain.

    Example:
        >>> create_attention("se", 64, reduction=8)
        SqueezeExcite(...)
    """
    spec = get_attention_spec(name)
    return spec.cls(channels, **spec.canonical_hparams(hparams))


def attention_catalog() -> dict[str, dict[str, HParam]]:
    """Name -> hyper-parameter name -> ``HParam``; what the space validator reads."""
    return {n: {h.name: h for h in _REGISTRY[n].hparams} for n in attention_names()}
