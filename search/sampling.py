"""Define-by-run sampling of an ``Architecture`` from a ``SearchSpace``.

Parameter names are ``<stage>.attention``, ``<stage>.<module>.<hparam>``,
``<stage>.position``, ``<stage>.blocks``, ``<stage>.conv`` and
``<stage>.conv.<conv>.<hparam>``: a hyper-parameter exists only in trials that
chose its module, so TPE's ``group=True`` models each module's sub-space
separately. A choice with a single value is not a parameter at all.
"""

from __future__ import annotations

from typing import Any

import optuna

from models import Architecture, StageChoice, get_backbone_spec
from models.attention import get_attention_spec
from models.convs import get_conv_spec
from spaces import SearchSpace, StageSpace
from studies import REFERENCE_LABEL


def param_name(stage: str, *parts: str) -> str:
    """The trial parameter of one stage's choice: ``stage1.attention``, ``stage1.se.reduction``,
    ``stage1.position``, ``stage1.conv.odconv.kernel_num`` (the only place this format is made)."""
    return ".".join((stage, *parts))


def _suggest(trial: optuna.Trial, name: str, values: tuple[Any, ...]) -> Any:
    return values[0] if len(values) == 1 else trial.suggest_categorical(name, list(values))


def _suggest_stage(trial: optuna.Trial, stage: StageSpace) -> StageChoice:
    modules = {m.name: m for m in stage.modules}
    name = _suggest(trial, param_name(stage.name, "attention"), tuple(modules))
    hparams = {h: _suggest(trial, param_name(stage.name, name, h), values)
               for h, values in modules[name].hparams}
    convs = {c.name: c for c in stage.convs}
    conv = _suggest(trial, param_name(stage.name, "conv"), tuple(convs))
    conv_hparams = {h: _suggest(trial, param_name(stage.name, "conv", conv, h), values)
                    for h, values in convs[conv].hparams}
    if name == "none":
        return StageChoice.create("none", conv=conv, conv_hparams=conv_hparams)
    position = _suggest(trial, param_name(stage.name, "position"), stage.positions)
    blocks = _suggest(trial, param_name(stage.name, "blocks"), stage.blocks)
    return StageChoice.create(name, hparams, position=position, blocks=blocks, conv=conv,
                              conv_hparams=conv_hparams)


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
        weights=space.weights,
    )


def _pick(params: dict[str, Any], key: str, values: tuple[Any, ...], value: Any) -> bool:
    """Set ``params[key] = value`` if it is a parameter; False if ``value`` is outside ``values``."""
    if value not in values:
        return False
    if len(values) > 1:
        params[key] = value
    return True


def _nearest(values: tuple[Any, ...], value: Any) -> Any:
    """``value`` if the space allows it, else the nearest allowed number (the smaller on a tie);
    None when there is no number to be near (``"auto"``, a name)."""
    if value in values:
        return value
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers or not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return min(numbers, key=lambda v: (abs(v - value), v))


def _uniform_params(space: SearchSpace, module: str,
                    conv: str = "standard") -> tuple[dict[str, Any] | None, list[str]]:
    """Trial params for ``module`` and ``conv`` with paper defaults in every stage, at the
    backbone's default position, and what stood in for a default the space lacks: the nearest
    value it allows (``"reduction 16 for the paper's 32"``). None if no such architecture is
    in the space (the module, the position or every block not allowed in a stage, or a
    default with no number near it)."""
    defaults = get_attention_spec(module).defaults
    conv_defaults = get_conv_spec(conv).defaults
    position = get_backbone_spec(space.config.backbone.name).positions[0]
    params: dict[str, Any] = {}
    nearest: list[str] = []

    def pick(key: str, values: tuple[Any, ...], name: str, default: Any) -> bool:
        value = _nearest(values, default)
        if value is None:
            return False
        if value != default and (note := f"{name} {value} for the paper's {default}") not in nearest:
            nearest.append(note)
        return _pick(params, key, values, value)

    for stage in space.stages:
        choices = {m.name: m for m in stage.modules}
        convs = {c.name: c for c in stage.convs}
        if module not in choices or conv not in convs:
            return None, nearest
        _pick(params, param_name(stage.name, "attention"), tuple(choices), module)
        _pick(params, param_name(stage.name, "conv"), tuple(convs), conv)
        if not all(pick(param_name(stage.name, module, h), values, h, defaults[h])
                   for h, values in choices[module].hparams):
            return None, nearest
        if not all(pick(param_name(stage.name, "conv", conv, h), values, h, conv_defaults[h])
                   for h, values in convs[conv].hparams):
            return None, nearest
        if module != "none" and not (
                _pick(params, param_name(stage.name, "position"), stage.positions, position)
                and _pick(params, param_name(stage.name, "blocks"), stage.blocks, "all")):
            return None, nearest
    return params, nearest


def reference_trials(space: SearchSpace) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The labelled reference baselines, and the ones that could not be made.

    References: no attention anywhere, then each module of the space in every
    stage with its paper-default hyper-parameters, then each non-standard
    convolution of the space in every stage without attention. Where the space
    lacks a paper default the nearest value it allows stands in, and the label
    says so ("ca everywhere (nearest allowed: reduction 16 for the paper's 32)");
    a reference with no such value, or whose module or position the space does
    not allow, is skipped (and named in the second list).
    """
    modules = list(dict.fromkeys(m.name for s in space.stages for m in s.modules))
    modules.sort(key=lambda n: n != "none")
    convs = [c for c in dict.fromkeys(c.name for s in space.stages for c in s.convs)
             if c != "standard"]
    candidates = [(REFERENCE_LABEL if name == "none" else f"{name} everywhere",
                   *_uniform_params(space, name)) for name in modules]
    candidates += [(f"{conv} everywhere", *_uniform_params(space, "none", conv)) for conv in convs]
    refs = [(label + (f" (nearest allowed: {', '.join(near)})" if near else ""), params)
            for label, params, near in candidates if params is not None]
    skipped = [label for label, params, _ in candidates if params is None]
    return refs, skipped


def _stage_params(stage: StageSpace) -> list[dict[str, Any]]:
    """Every assignment of one stage's parameters (only those that are parameters)."""
    out: list[dict[str, Any]] = []
    modules = [m.name for m in stage.modules]
    for m in stage.modules:
        base = {param_name(stage.name, "attention"): m.name} if len(modules) > 1 else {}
        combos: list[dict[str, Any]] = [base]
        axes = [(param_name(stage.name, m.name, h), v) for h, v in m.hparams]
        if m.name != "none":
            axes += [(param_name(stage.name, "position"), stage.positions),
                     (param_name(stage.name, "blocks"), stage.blocks)]
        for key, values in axes:
            if len(values) > 1:
                combos = [{**c, key: v} for c in combos for v in values]
        out += combos
    conv_combos: list[dict[str, Any]] = []
    for conv in stage.convs:
        combos = [{param_name(stage.name, "conv"): conv.name} if len(stage.convs) > 1 else {}]
        for h, values in conv.hparams:
            if len(values) > 1:
                key = param_name(stage.name, "conv", conv.name, h)
                combos = [{**c, key: v} for c in combos for v in values]
        conv_combos += combos
    return [{**a, **c} for a in out for c in conv_combos]


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
