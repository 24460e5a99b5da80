"""Loading and validating a space file into a frozen ``SearchSpace``.

Every problem of a file is collected and reported at once in one
``SpaceError``; each line names the file, the key path
(``stages.all.attention.se.reduction[1]``), the value received and what is
allowed.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from spaces._files import SpaceError, read_yaml, resolve_space_path
from spaces._schema import METRICS, SpaceConfig, StageConfig


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
    """A backbone as the validator sees it, for given settings and dataset."""

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
        backbone: ``(backbone, settings, dataset) -> BackboneFacts``; raises
            ``ValueError`` for an unknown backbone or invalid settings.
    """

    attention: Mapping[str, Mapping[str, HParamLike]]
    convs: Mapping[str, Mapping[str, HParamLike]]
    max_positions: Mapping[str, int | None]
    backbone: Callable[[str, dict[str, Any], str], BackboneFacts]


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
    sha256: str
    stages: tuple[StageSpace, ...]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def directions(self) -> list[str]:
        return [METRICS[m] for m in self.config.objectives]

    def size(self) -> int:
        """Number of distinct architectures the space can produce."""
        return math.prod(s.size() for s in self.stages)


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names allowed at ``loc`` (the parent of an unknown key)."""
    tp: Any = SpaceConfig
    for part in loc:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            tp = _unwrap_optional(field.annotation) if field else None
        elif typing.get_origin(tp) is dict:
            tp = _unwrap_optional(typing.get_args(tp)[1])
        else:
            return []
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _pydantic_problems(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            problems.append(f"{_fmt_loc(loc)}: unknown key{hint}; allowed: {', '.join(allowed)}")
        elif e["type"] == "missing":
            problems.append(f"{_fmt_loc(loc)}: required key is missing")
        else:
            problems.append(f"{_fmt_loc(loc)}: {e['msg']}; got {e['input']!r}")
    return problems


def _module_choices(where: str, name: str, given: Mapping[str, Any] | None,
                    registry: Mapping[str, Mapping[str, HParamLike]], kind: str,
                    problems: list[str]) -> ModuleChoices | None:
    if name not in registry:
        near = difflib.get_close_matches(name, list(registry), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        problems.append(f"{where}.{name}: unknown {kind}{hint}; "
                        f"allowed: {', '.join(registry)}")
        return None
    known = registry[name]
    given = given or {}
    if not isinstance(given, Mapping):
        problems.append(f"{where}.{name}: expected a mapping of hyper-parameter choices; got {given!r}")
        return None
    out = []
    for key in given:
        if key not in known:
            near = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            problems.append(f"{where}.{name}.{key}: unknown hyper-parameter{hint}; "
                            f"allowed: {', '.join(known) or 'none (this module has none)'}")
    for hname, hp in known.items():
        raw = given.get(hname, hp.default)
        values = list(raw) if isinstance(raw, list) else [raw]
        if not values:
            problems.append(f"{where}.{name}.{hname}: empty list; give at least one value")
            continue
        bad = [i for i, v in enumerate(values) if not hp.domain.check(v)]
        for i in bad:
            idx = f"[{i}]" if isinstance(raw, list) else ""
            problems.append(f"{where}.{name}.{hname}{idx}: got {values[i]!r}; "
                            f"allowed: {hp.domain.describe()}")
        if not bad:  # a bad value may be a list or a mapping, which cannot be de-duplicated
            out.append((hname, tuple(dict.fromkeys(values))))
    return ModuleChoices(name, tuple(out))


def fits_positions(resolution: int, limit: int | None) -> bool:
    """Whether a module limited to ``limit`` positions (``H*W``; None: any) may go in a stage of
    ``resolution`` x ``resolution``: the one rule, read by the space validator and ``build_model``."""
    return limit is None or resolution ** 2 <= limit


def _check_positions(where: str, stage: StageFacts, modules: list[ModuleChoices],
                     facts: BackboneFacts, catalog: Catalog, problems: list[str]) -> None:
    """Modules whose cost grows with positions squared only where the stage is small enough."""
    positions = stage.resolution ** 2
    for m in modules:
        limit = catalog.max_positions.get(m.name)
        if fits_positions(stage.resolution, limit):
            continue
        fits = [s.name for s in facts.stages if fits_positions(s.resolution, limit)]
        problems.append(
            f"{where}.{m.name}: not allowed in {stage.name} ({stage.resolution}x{stage.resolution}"
            f" = {positions} positions); {m.name} is limited to H*W <= {limit}, which "
            f"{'holds in: ' + ', '.join(fits) if fits else 'no stage of this backbone meets'}"
            f"{'; list it under those stages instead' if fits else ''}")


def _resolve_stages(cfg: SpaceConfig, catalog: Catalog, problems: list[str]) -> tuple[StageSpace, ...]:
    try:
        facts = catalog.backbone(cfg.backbone.name, cfg.backbone.settings(), cfg.dataset.name)
    except ValueError as e:
        problems.append(f"backbone: {e}")
        try:  # wrong settings: the stages are still checked, against the default settings
            facts = catalog.backbone(cfg.backbone.name, {}, cfg.dataset.name)
        except ValueError:  # an unknown backbone: module names can still be checked
            for key, stage in cfg.stages.items():
                for m, h in (stage.attention or {}).items():
                    _module_choices(f"stages.{key}.attention", m, h, catalog.attention, "attention",
                                    problems)
                for c, h in (stage.conv or {}).items():
                    _module_choices(f"stages.{key}.conv", c, h, catalog.convs, "conv", problems)
            return ()
    names = [s.name for s in facts.stages]
    for key in cfg.stages:
        if key != "all" and key not in names:
            near = difflib.get_close_matches(key, names + ["all"], n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            problems.append(f"stages.{key}: unknown stage{hint}; backbone "
                            f"{cfg.backbone.name!r} has: all, {', '.join(names)}")
    base = cfg.stages.get("all", StageConfig())
    resolved = []
    for stage in facts.stages:
        name = stage.name
        own = cfg.stages.get(name, StageConfig())
        attention = own.attention if own.attention is not None else base.attention
        where = f"stages.{name if own.attention is not None else 'all'}.attention"
        if not attention:
            problems.append(f"stages.{name}: no attention choices; give them under "
                            f"stages.all.attention or stages.{name}.attention")
            continue
        modules = [m for m in (_module_choices(where, m, h, catalog.attention, "attention", problems)
                               for m, h in attention.items()) if m is not None]
        _check_positions(where, stage, modules, facts, catalog, problems)
        positions = own.position or base.position or [facts.positions[0]]
        pwhere = f"stages.{name if own.position else 'all'}.position"
        for p in positions:
            if p not in facts.positions:
                problems.append(f"{pwhere}: {p!r} is not a position of backbone "
                                f"{cfg.backbone.name!r}; allowed: {', '.join(facts.positions)}")
        conv = own.conv if own.conv is not None else base.conv
        cwhere = f"stages.{name if own.conv is not None else 'all'}.conv"
        convs = [ModuleChoices("standard", ())]
        if conv is not None:
            if not conv:
                problems.append(f"{cwhere}: no convolution choices; give at least one of "
                                f"{', '.join(catalog.convs)} or leave conv out")
            convs = [c for c in (_module_choices(cwhere, c, h, catalog.convs, "conv", problems)
                                 for c, h in conv.items()) if c is not None]
            if not facts.convs and any(c.name != "standard" for c in convs):
                problems.append(f"{cwhere}: backbone {cfg.backbone.name!r} has no convolution "
                                f"choice (its 3x3 convolutions are depthwise); allowed: standard")
        resolved.append(StageSpace(
            name=name,
            modules=tuple(modules),
            positions=tuple(positions),
            blocks=tuple(own.blocks or base.blocks or ["all"]),
            convs=tuple(convs),
        ))
    return tuple(resolved)


def _drop(raw: Any, loc: tuple[Any, ...]) -> bool:
    """Delete the deepest mapping key on ``loc`` from ``raw`` (so its default applies); False if
    nothing on the path could be deleted."""
    node, last = raw, None
    for part in loc:
        if isinstance(node, dict) and part in node:
            last = (node, part)
            node = node[part]
        else:
            break
    if last is None:
        return False
    del last[0][last[1]]
    return True


def _validate_what_can_be(raw: dict, problems: list[str]) -> SpaceConfig | None:
    """The schema's problems, and a config with the offending keys left out (their defaults
    in place), so that the registry checks still run on the rest: a file with a negative
    epoch count and an unknown module gets both lines. None when no such config exists
    (a required key is missing or wrong)."""
    data = copy.deepcopy(raw)
    for _ in range(4):
        try:
            return SpaceConfig.model_validate(data)
        except ValidationError as e:
            if not problems:
                problems += _pydantic_problems(e)
            if not all([_drop(data, tuple(err["loc"])) for err in e.errors()]):
                return None
    return None


def _check_metrics(cfg: SpaceConfig, problems: list[str]) -> None:
    allowed = ", ".join(METRICS)
    for i, m in enumerate(cfg.objectives):
        if m not in METRICS:
            problems.append(f"objectives[{i}]: unknown metric {m!r}; allowed: {allowed}")
    if not 1 <= len(cfg.objectives) <= 3 or len(set(cfg.objectives)) != len(cfg.objectives):
        problems.append(f"objectives: give one to three distinct metrics; got {cfg.objectives}")
    used = set(cfg.objectives) | set(cfg.constraints)
    if "peak_memory" in used and cfg.latency.device != "cuda":
        problems.append("peak_memory: measured on CUDA only; set latency.device: cuda or drop it "
                        f"from objectives/constraints; got latency.device: {cfg.latency.device}")
    if cfg.latency.backend == "onnxruntime" and cfg.latency.device != "cpu":
        problems.append("latency.backend: onnxruntime is timed on the CPU; set latency.device: cpu; "
                        f"got {cfg.latency.device}")
    if cfg.confirm is not False and cfg.confirm.seeds < cfg.search.seeds:
        problems.append(f"confirm.seeds: the seeds of a confirmed architecture in all, the search's "
                        f"included, so at least search.seeds ({cfg.search.seeds}); got "
                        f"{cfg.confirm.seeds} (or set confirm: false)")
    for m, bound in cfg.constraints.items():
        if m not in METRICS or m == "accuracy":
            problems.append(f"constraints.{m}: unknown cost metric; allowed: "
                            f"{', '.join(k for k in METRICS if k != 'accuracy')}")
        elif bound.max is None and bound.min is None:
            problems.append(f"constraints.{m}: give max and/or min")


def load_space(space: str | Path, *, catalog: Catalog) -> SearchSpace:
    """Load, validate and resolve a space file.

    Args:
        space: A path, or a bare name of a bundled space (``attention.yaml``).
        catalog: What the model registry allows.

    Returns:
        The frozen ``SearchSpace``.

    Raises:
        SpaceError: missing file, invalid YAML, or any schema or registry
            problem; the message lists them all.

    Example:
        >>> load_space("attention.yaml", catalog=model_catalog())
    """
    path = resolve_space_path(space)
    try:
        raw = read_yaml(path, what="space file")
    except (OSError, ValueError) as e:
        raise SpaceError(str(e)) from None
    if not isinstance(raw, dict):
        raise SpaceError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    problems: list[str] = []
    cfg = _validate_what_can_be(raw, problems)
    if cfg is not None:
        _check_metrics(cfg, problems)
        stages = _resolve_stages(cfg, catalog, problems)
    problems = list(dict.fromkeys(problems))  # `all` is resolved once per stage
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise SpaceError(f"{path}: {len(problems)} problem(s):\n{listing}")
    # universal newlines, as studies created before have it recorded
    return SearchSpace(cfg, path, hashlib.sha256(path.read_text(encoding="utf-8").encode()).hexdigest(),
                       stages)
