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
    freezable: bool = False  # whether it names its stem and stages (budget.finetune.freeze)


@dataclass(frozen=True)
class Pretrained:
    """The trained weights a backbone starts from (``backbone.weights``), as resolved.

    Attributes:
        path: The file read (a state dict, a checkpoint holding one, or the torch hub cache's
            file of a torchvision weights name), absolute.
        sha256: Of the file's bytes: part of the space's hash and of every architecture's key.
        source: What the space file said (the path as written, or e.g. ``IMAGENET1K_V1``).
    """

    path: str
    sha256: str
    source: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256, "source": self.source or self.path}


@dataclass(frozen=True)
class Catalog:
    """What the registry allows, handed in by the caller (keeps this package torch-free).

    Attributes:
        attention: module name -> hyper-parameter name -> HParam.
        convs: convolution name -> hyper-parameter name -> HParam.
        max_positions: module name -> largest allowed ``H*W`` (``None``: any).
        backbone: ``(backbone, settings, input_size) -> BackboneFacts``; raises
            ``ValueError`` for an unknown backbone or invalid settings.
        weights: ``(backbone, settings, weights, in_channels) -> Pretrained``: finds the
            weights a space file names and checks that they fit the backbone; raises
            ``ValueError`` naming the file and what does not fit. ``None``: a catalog that
            cannot load weights (a space that names some is refused).
    """

    attention: Mapping[str, Mapping[str, HParamLike]]
    convs: Mapping[str, Mapping[str, HParamLike]]
    max_positions: Mapping[str, int | None]
    backbone: Callable[[str, dict[str, Any], int], BackboneFacts]
    weights: Callable[[str, dict[str, Any], str, int], Pretrained] | None = None


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
    weights: Pretrained | None = None  # backbone.weights, resolved (its sha256 is in ``sha256``)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def directions(self) -> list[str]:
        return [METRICS[m] for m in self.config.objectives]

    def size(self) -> int:
        """Number of distinct architectures the space can produce."""
        return math.prod(s.size() for s in self.stages)
