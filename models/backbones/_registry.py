"""Backbone registry: names, settings domains, and the stages each exposes.

Every backbone says, for given settings and input size, what its stages are
(name, channels, spatial resolution, number of blocks), so that the space
validator can check per-stage constraints and ``build_model`` can refuse a
choice list of the wrong length.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from models.hparams import HParam, canonical_values
from models.registry import Registry


@dataclass(frozen=True)
class StageInfo:
    name: str
    channels: int
    resolution: int
    blocks: int


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone.

    Attributes:
        name: Registry key.
        settings: Its settings (depth, width, ...) with domains and defaults.
        stages: ``(settings, input_size) -> list of StageInfo``.
        build: ``(arch) -> nn.Module``.
        doc: One line for the README.
        positions: The attention positions its blocks offer, the papers'
            default first.
        convs: Whether a stage may replace its 3x3 convolutions by a
            registered convolution (``models.convs``); ``False`` where those
            are depthwise.
        parts: ``(settings) -> [stem prefixes, stage 1 prefixes, ...]``: the parameter-name
            prefixes of the stem and of each stage, in order (what ``budget.finetune.freeze``
            freezes in a backbone started from trained weights); None where the backbone
            does not say, and freezing it is refused.
    """

    name: str
    settings: tuple[HParam, ...]
    stages: Callable[[Mapping[str, Any], int], list[StageInfo]]
    build: Callable[..., nn.Module]
    doc: str
    positions: tuple[str, ...] = ("pre_add", "post_add")
    convs: bool = True
    parts: Callable[[Mapping[str, Any]], list[tuple[str, ...]]] | None = None

    def canonical_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``settings`` and fill defaults.

        Raises:
            ValueError: unknown setting or value outside its domain.
        """
        return canonical_values(self.settings, settings, owner=f"backbone {self.name!r}",
                                noun="setting")


_REGISTRY: Registry[BackboneSpec] = Registry("backbone")

B = TypeVar("B", bound=Callable[..., nn.Module])


def register_backbone(name: str, *, settings: tuple[HParam, ...],
                      stages: Callable[[Mapping[str, Any], int], list[StageInfo]], doc: str,
                      positions: tuple[str, ...] = ("pre_add", "post_add"),
                      convs: bool = True,
                      parts: Callable[[Mapping[str, Any]], list[tuple[str, ...]]] | None = None,
                      ) -> Callable[[B], B]:
    """Decorator that registers its target (a class or function ``(arch) -> nn.Module``) as the
    build of backbone ``name`` (see ``BackboneSpec``); refuses a duplicate name."""

    def wrap(build: B) -> B:
        _REGISTRY.add(BackboneSpec(name=name, settings=settings, stages=stages, build=build, doc=doc,
                                   positions=positions, convs=convs, parts=parts))
        return build

    return wrap


def backbone_names() -> tuple[str, ...]:
    return _REGISTRY.names()


def get_backbone_spec(name: str) -> BackboneSpec:
    """The backbone registered under ``name``.

    Raises:
        ValueError: unknown name, listing the registered ones.
    """
    return _REGISTRY.get(name)
