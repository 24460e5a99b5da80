"""Define-by-run sampling of an ``Architecture`` from a ``SearchSpace``.

Parameter names are ``<stage>.attention``, ``<stage>.<module>.<hparam>``,
``<stage>.position`` and ``<stage>.blocks``: a hyper-parameter exists only in
trials that chose its module, so TPE's ``group=True`` models each module's
sub-space separately. A choice with a single value is not a parameter at all.
"""

from __future__ import annotations

from typing import Any

import optuna

from models import Architecture, StageChoice, get_backbone_spec
from models.attention import get_attention_spec
from spaces import SearchSpace, StageSpace


def _suggest(trial: optuna.Trial, name: str, values: tuple[Any, ...]) -> Any:
    return values[0] if len(values) == 1 else trial.suggest_categorical(name, list(values))


def _suggest_stage(trial: optuna.Trial, stage: StageSpace) -> StageChoice:
    modules = {m.name: m for m in stage.modules}
    name = _suggest(trial, f"{stage.name}.attention", tuple(modules))
    hparams = {h: _suggest(trial, f"{stage.name}.{name}.{h}", values)
               for h, values in modules[name].hparams}
    if name == "none":
        return StageChoice.create("none")
    position = _suggest(trial, f"{stage.name}.position", stage.positions)
    blocks = _suggest(trial, f"{stage.name}.blocks", stage.blocks)
    return StageChoice.create(name, hparams, position=position, blocks=blocks)


def suggest_architecture(trial: optuna.Trial, space: SearchSpace, *, in_channels: int,
                         input_size: int, num_classes: int) -> Architecture:
    """Sample one architecture of ``space`` in ``trial``."""
    spec = get_backbone_spec(space.config.backbone.name)
    return Architecture.create(
        backbone=spec.name,
        backbone_args=spec.canonical_settings(space.config.backbone.settings()),
        stages=[_suggest_stage(trial, s) for s in space.stages],
        in_channels=in_channels,
        input_size=input_size,
        num_classes=num_classes,
    )


def _uniform_params(space: SearchSpace, module: str) -> dict[str, Any] | None:
    """Trial params for ``module`` with paper defaults in every stage, or None if outside the space."""
    defaults = get_attention_spec(module).defaults
    params: dict[str, Any] = {}
    for stage in space.stages:
        choices = {m.name: m for m in stage.modules}
        if module not in choices:
            return None
        if len(choices) > 1:
            params[f"{stage.name}.attention"] = module
        for h, values in choices[module].hparams:
            if defaults[h] not in values:
                return None
            if len(values) > 1:
                params[f"{stage.name}.{module}.{h}"] = defaults[h]
        if module != "none":
            for key, values, default in (("position", stage.positions, "pre_add"),
                                         ("blocks", stage.blocks, "all")):
                if default not in values:
                    return None
                if len(values) > 1:
                    params[f"{stage.name}.{key}"] = default
    return params


def reference_trials(space: SearchSpace) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The labelled reference baselines, and the modules that could not be one.

    References: no attention anywhere, then each module of the space in every
    stage with its paper-default hyper-parameters. A reference whose choices
    are outside the space is skipped (and named in the second list), because a
    trial can only hold values of its distributions.
    """
    modules = list(dict.fromkeys(m.name for s in space.stages for m in s.modules))
    modules.sort(key=lambda n: n != "none")
    refs, skipped = [], []
    for name in modules:
        params = _uniform_params(space, name)
        label = "no attention" if name == "none" else f"{name} everywhere"
        if params is None:
            skipped.append(label)
        else:
            refs.append((label, params))
    return refs, skipped


def _stage_params(stage: StageSpace) -> list[dict[str, Any]]:
    """Every assignment of one stage's parameters (only those that are parameters)."""
    out: list[dict[str, Any]] = []
    modules = [m.name for m in stage.modules]
    for m in stage.modules:
        base = {f"{stage.name}.attention": m.name} if len(modules) > 1 else {}
        combos: list[dict[str, Any]] = [base]
        axes = [(f"{stage.name}.{m.name}.{h}", v) for h, v in m.hparams]
        if m.name != "none":
            axes += [(f"{stage.name}.position", stage.positions),
                     (f"{stage.name}.blocks", stage.blocks)]
        for key, values in axes:
            if len(values) > 1:
                combos = [{**c, key: v} for c in combos for v in values]
        out += combos
    return out


def enumerate_params(space: SearchSpace) -> list[dict[str, Any]]:
    """Trial params of every architecture of ``space`` (``space.size()`` of them), in order."""
    combos: list[dict[str, Any]] = [{}]
    for stage in space.stages:
        combos = [{**c, **p} for c in combos for p in _stage_params(stage)]
    return combos


def params_to_architecture(space: SearchSpace, params: dict[str, Any], *, in_channels: int,
                           input_size: int, num_classes: int) -> Architecture:
    """The architecture a trial with ``params`` builds (no study needed)."""
    return suggest_architecture(optuna.trial.FixedTrial(params), space, in_channels=in_channels,
                                input_size=input_size, num_classes=num_classes)
