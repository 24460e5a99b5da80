"""The attention registry: the single source of truth for module names,
hyper-parameters, their allowed values, paper defaults and where a module may go.

The space validator, the sampler, the README's module table and the tests all
read it (see ``models.registry`` for the checks every registry shares).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from models.hparams import HParam
from models.registry import ModuleSpec, Registry


@dataclass(frozen=True)
class AttentionSpec(ModuleSpec):
    """What the registry knows about one attention module.

    Attributes (beyond ``ModuleSpec``'s):
        placement: Where the paper puts it, in words, for the README.
        max_positions: Largest ``H*W`` of a stage the module may be placed in
            (its cost grows with positions squared); ``None`` for no limit.
            The space validator and ``build_model`` both enforce it.
    """

    placement: str = "after the residual branch's last BatchNorm (pre_add)"
    max_positions: int | None = None


_REGISTRY: Registry[AttentionSpec] = Registry("attention", first="none")


def register_attention(
    name: str,
    *,
    hparams: tuple[HParam, ...] = (),
    paper: str,
    url: str,
    params_formula: str,
    placement: str | None = None,
    max_positions: int | None = None,
) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator that registers an attention module under ``name``.

    Raises:
        ValueError: if ``name`` is already registered or not a lowercase identifier.
    """

    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        extra = {"placement": placement} if placement else {}
        _REGISTRY.add(AttentionSpec(
            kind="attention", name=name, cls=cls, hparams=hparams, paper=paper, url=url,
            params_formula=params_formula, max_positions=max_positions, **extra,
        ))
        return cls

    return wrap


def unregister_attention(name: str) -> None:
    """Remove a module registered with ``register_attention`` (tests, temporary plug-ins).

    Raises:
        ValueError: ``none`` or a name that is not registered.
    """
    _REGISTRY.remove(name)


def attention_names() -> tuple[str, ...]:
    """Registered attention names, ``none`` first then alphabetical."""
    return _REGISTRY.names()


def get_attention_spec(name: str) -> AttentionSpec:
    """The spec registered under ``name``.

    Raises:
        ValueError: for an unknown name, listing the registered ones.
    """
    return _REGISTRY.get(name)


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


def attention_classes() -> tuple[type[nn.Module], ...]:
    """The classes of every registered module but ``none``: what counts as an inserted module
    in a built network (``models.shared_init`` skips them, ``models.pretrained`` wraps them)."""
    return tuple(_REGISTRY.get(n).cls for n in _REGISTRY.names() if n != "none")


def attention_catalog() -> dict[str, dict[str, HParam]]:
    """Name -> hyper-parameter name -> ``HParam``; what the space validator reads."""
    return _REGISTRY.catalog()


def attention_max_positions() -> dict[str, int | None]:
    """Name -> largest allowed ``H*W`` (``None``: no limit); what the validator checks stages against."""
    return {n: _REGISTRY.get(n).max_positions for n in _REGISTRY.names()}
