"""Checks against the model registry (``Catalog``): module and hyper-parameter names and values,
placements and positions per stage, metrics; each problem is one line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spaces._errors import did_you_mean
from spaces._samplers import SAMPLER_TABLE
from spaces._schema import METRICS, SpaceConfig, StageConfig
from spaces._types import BackboneFacts, Catalog, HParamLike, ModuleChoices, StageFacts, StageSpace


def _module_choices(where: str, name: str, given: Mapping[str, Any] | None,
                    registry: Mapping[str, Mapping[str, HParamLike]], kind: str,
                    problems: list[str]) -> ModuleChoices | None:
    if name not in registry:
        hint = did_you_mean(name, list(registry))
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
            hint = did_you_mean(str(key), list(known))
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


def check_freeze(cfg: SpaceConfig, catalog: Catalog, problems: list[str]) -> None:
    """``budget.finetune.freeze``: only for a backbone started from trained weights, that names
    its stages, and at most its number of stages."""
    freeze = cfg.budget.finetune.freeze
    if freeze == 0:
        return
    where = f"budget.finetune.freeze: {freeze}"
    if cfg.backbone.weights is None:
        problems.append(f"{where}: the backbone starts from random weights (no backbone.weights), "
                        "so there is nothing trained to freeze; set freeze: 0 or give weights")
        return
    try:
        facts = catalog.backbone(cfg.backbone.name, cfg.backbone.settings(), cfg.dataset.input_size)
    except ValueError:  # the backbone's own problem is reported by resolve_stages
        return
    if not facts.freezable:
        problems.append(f"{where}: backbone {cfg.backbone.name!r} does not name its stem and "
                        "stages (BackboneSpec.parts), so none can be frozen; set freeze: 0")
    elif freeze > len(facts.stages):
        problems.append(f"{where}: backbone {cfg.backbone.name!r} has {len(facts.stages)} stages "
                        f"({', '.join(s.name for s in facts.stages)}); allowed: 0 to {len(facts.stages)}")


def resolve_stages(cfg: SpaceConfig, catalog: Catalog, problems: list[str]) -> tuple[StageSpace, ...]:
    try:
        facts = catalog.backbone(cfg.backbone.name, cfg.backbone.settings(), cfg.dataset.input_size)
    except ValueError as e:
        problems.append(f"backbone: {e}")
        try:  # wrong settings: the stages are still checked, against the default settings
            facts = catalog.backbone(cfg.backbone.name, {}, cfg.dataset.input_size)
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
            hint = did_you_mean(key, names + ["all"])
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


def check_metrics(cfg: SpaceConfig, problems: list[str]) -> None:
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
    if "latency_flops" in used and cfg.latency.input_size in (None, cfg.dataset.input_size):
        problems.append("latency_flops: the FLOPs at latency.input_size, a deployment resolution "
                        f"other than the training's {cfg.dataset.input_size} px; set "
                        "latency.input_size or use flops; got latency.input_size: "
                        f"{cfg.latency.input_size}")
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


def rung_cost(epochs: float, train_images: int, seeds: int) -> float:
    """Images trained at a rung: epochs x training images x seeds."""
    return epochs * train_images * seeds


# the samplers that fit a model to the results they see (``fidelity.learn_from: highest``)
MODEL_SAMPLERS = tuple(s.name for s in SAMPLER_TABLE if s.learns_from_results)


def learn_from_problem(cfg: SpaceConfig, sampler: str, where: str) -> str | None:
    """What is wrong with ``fidelity.learn_from`` for ``sampler`` (named by ``where``: the
    space's key or the command line's flag); None when the sampler can follow it."""
    if cfg.fidelity is None or cfg.fidelity.learn_from != "highest" or sampler in MODEL_SAMPLERS:
        return None
    return (f"fidelity.learn_from: highest is for the samplers that fit a model to results "
            f"({', '.join(MODEL_SAMPLERS)}); {where} is {sampler}, which learns from rung 0 "
            f"(learn_from: rung0)")


def check_fidelity(cfg: SpaceConfig, problems: list[str]) -> None:
    """Rungs that fit the proxy split, with strictly growing cost; a ``learn_from`` that the
    sampler can follow."""
    if cfg.fidelity is None:
        return
    if cfg.search.seeds != 1:
        problems.append(f"search.seeds: with fidelity, each rung sets its own seeds "
                        f"(fidelity.rungs[i].seeds); leave search.seeds at 1, got {cfg.search.seeds}")
    problem = learn_from_problem(cfg, cfg.search.sampler, "search.sampler")
    if problem:
        problems.append(problem)
    train_images, _ = cfg.dataset.split_sizes()
    costs = []
    for i, rung in enumerate(cfg.fidelity.rungs):
        n = rung.train_subset or train_images
        if train_images and n > train_images:
            problems.append(f"fidelity.rungs[{i}].train_subset: at most the proxy split's "
                            f"{train_images} training images (dataset.train_subset less "
                            f"val_fraction); got {n}")
        costs.append(rung_cost(rung.epochs, min(n, train_images or n), rung.seeds))
    for i in range(1, len(costs)):
        if costs[i] <= costs[i - 1]:
            problems.append(f"fidelity.rungs[{i}]: each rung must cost more than the one before "
                            f"(epochs x train_subset x seeds, images trained): rung {i - 1} "
                            f"{costs[i - 1]:,.0f}, rung {i} {costs[i]:,.0f}")
