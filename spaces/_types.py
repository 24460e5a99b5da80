"""What a loaded space is: the frozen ``SearchSpace`` and the facts about the model registry
(``Catalog``) it is checked against, without importing torch."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from spaces._schema import METRICS, SpaceConfig


class DomainLike(Protocol):
    def check(self, value: Any) -> bool: ...
    def describe(self) -> str: ...


class HParamLike(Protocol):
    name: str
    default: Any
    domain: DomainLike


@dataclass(frozen=True)
class StageFacts:
    """One backbone stage as the validator sees it."""

    name: str
    resolution: int  # side of its feature maps for the dataset's input size


@dataclass(frozen=True)
class BackboneFacts:
    """A backbone as the validator sees it, for given settings and input size."""

    stages: tuple[StageFacts, ...]
    positions: tuple[str, ...]  # attention positions its blocks offer, default first
    convs: bool  # whether its stages may replace their 3x3 convolutions


@dataclass(frozen=True)
class Catalog:
    """What the registry allows, handed in by the caller (keeps this package torch-free).

    Attributes:
        attention: module name -> hyper-parameter name -> HParam.
        convs: convolution name -> hyper-parameter name -> HParam.
        max_positions: module name -> largest allowed ``H*W`` (``None``: any).
        backbone: ``(backbone, settings, input_size) -> BackboneFacts``; raises
            ``ValueError`` for an unknown backbone or invalid settings.
    """

    attention: Mapping[str, Mapping[str, HParamLike]]
    convs: Mapping[str, Mapping[str, HParamLike]]
    max_positions: Mapping[str, int | None]
    backbone: Callable[[str, dict[str, Any], int], BackboneFacts]


@dataclass(frozen=True)
class ModuleChoices:
    name: str
    hparams: tuple[tuple[str, tuple[Any, ...]], ...]

    def size(self) -> int:
        return math.prod(len(v) for _, v in self.hparams)


@dataclass(frozen=True)
class StageSpace:
    """One stage's choices: attention modules (with placements) and convolutions."""

    name: str
    modules: tuple[ModuleChoices, ...]
    positions: tuple[str, ...]
    blocks: tuple[str, ...]
    convs: tuple[ModuleChoices, ...] = (ModuleChoices("standard", ()),)

    def size(self) -> int:
        placed = len(self.positions) * len(self.blocks)
        attention = sum(m.size() * (1 if m.name == "none" else placed) for m in self.modules)
        return attention * sum(c.size() for c in self.convs)


@dataclass(frozen=True)
class SearchSpace:
    """A validated space: the parsed config, resolved per-stage choices, and provenance."""

    config: SpaceConfig
    path: Path
    sha256: str  # of the validated settings (what resume compares), not of the file's bytes
    stages: tuple[StageSpace, ...]
    file_sha256: str = ""  # of the file's text: what studies before issue 31 recorded

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def directions(self) -> list[str]:
        return [METRICS[m] for m in self.config.objectives]

    def size(self) -> int:
        """Number of distinct architectures the space can produce."""
        return math.prod(s.size() for s in self.stages)
