"""What a registry knows about one pluggable module, and the registry itself.

``Registry`` is shared by the attention registry (``models.attention``), the
per-stage convolution registry (``models.convs``) and the backbone registry
(``models.backbones``), each filled by a ``register_*`` decorator: the space validator, the sampler, the
README's tables and the tests all read these. An unknown name or
hyper-parameter, or a value outside its domain, is a ``ValueError`` that lists
what is valid: in a search, a silently ignored hyper-parameter wastes trials
and corrupts importance plots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from torch import nn

from models.hparams import HParam, canonical_values


@dataclass(frozen=True)
class ModuleSpec:
    """One registered module.

    Attributes:
        kind: ``attention`` or ``conv``; used in messages.
        name: Lowercase registry key.
        cls: The ``nn.Module`` class.
        hparams: The hyper-parameters, in constructor order.
        paper: Title of the paper that introduced it.
        url: Link to the paper.
        params_formula: The parameter count in closed form, for the README.
    """

    kind: str
    name: str
    cls: type[nn.Module]
    hparams: tuple[HParam, ...]
    paper: str
    url: str
    params_formula: str

    @property
    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.hparams}

    def hparam(self, name: str) -> HParam:
        for h in self.hparams:
            if h.name == name:
                return h
        valid = ", ".join(h.name for h in self.hparams) or "none"
        raise ValueError(
            f"{self.kind} {self.name!r} has no hyper-parameter {name!r}; valid: {valid}"
        )

    def canonical_hparams(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``hparams`` and fill in paper defaults, in constructor order."""
        return canonical_values(self.hparams, hparams, owner=f"{self.kind} {self.name!r}")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=_Named)


class Registry(Generic[S]):
    """Name -> spec, sorted by name, with ``first`` (the no-op choice, if any) before the rest."""

    def __init__(self, kind: str, first: str | None = None) -> None:
        self.kind = kind
        self.first = first
        self._specs: dict[str, S] = {}

    def add(self, spec: S) -> None:
        if spec.name in self._specs:
            raise ValueError(f"{self.kind} {spec.name!r} is already registered")
        if spec.name != spec.name.lower() or not spec.name.isidentifier():
            raise ValueError(f"{self.kind} name {spec.name!r} must be a lowercase identifier")
        self._specs[spec.name] = spec

    def remove(self, name: str) -> None:
        """Forget ``name`` (a module registered for a test or a session only)."""
        if name == self.first or name not in self._specs:
            raise ValueError(f"cannot unregister {self.kind} {name!r}; registered: {', '.join(self.names())}")
        del self._specs[name]

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._specs, key=lambda n: (n != self.first, n)))

    def get(self, name: str) -> S:
        try:
            return self._specs[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}"
            ) from None

    def catalog(self) -> dict[str, dict[str, HParam]]:
        """Name -> hyper-parameter name -> ``HParam`` (``ModuleSpec`` registries); what the
        space validator reads."""
        return {n: {h.name: h for h in self._specs[n].hparams}  # type: ignore[attr-defined]
                for n in self.names()}
