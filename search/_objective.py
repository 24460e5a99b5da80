"""One trial: sample -> build -> de-duplicate -> measure -> constrain -> train.

Cheap measurements come first: a candidate that breaks a hard constraint is
recorded (state PRUNED, ``user_attrs["infeasible"] = True``) with its
measurements and is never trained. An architecture whose canonical key or
built-model signature matches a finished trial is not trained again: the trial
reuses that result and records ``duplicate_of``.
"""

from __future__ import annotations

from dataclasses import asdict

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from models import build_model, model_signature
from runners.data import ProxyData
from runners.measure import count_flops, count_params, measure_latency
from runners.trainer import TrainBudget, TrainingDiverged, train_proxy
from search._sampling import suggest_architecture
from spaces import SearchSpace

# attributes copied from the trial a duplicate points to
_RESULT_ATTRS = ("accuracy", "val_loss", "latency_ms", "latency", "params", "flops",
                 "train_seconds", "images_per_second", "constraint_violations", "infeasible")


def constraint_violations(space: SearchSpace, metrics: dict[str, float]) -> dict[str, float]:
    """One number per bound, named ``<metric>_max``/``<metric>_min``; > 0 when violated.

    Recorded with ``trial.set_constraint`` so that Optuna's samplers and
    ``study.best_trials`` tell feasible trials from infeasible ones.
    """
    out = {}
    for metric, bound in space.config.constraints.items():
        if bound.max is not None:
            out[f"{metric}_max"] = metrics[metric] - bound.max
        if bound.min is not None:
            out[f"{metric}_min"] = bound.min - metrics[metric]
    return out


def _record_constraints(trial: optuna.Trial, violations: dict[str, float]) -> None:
    trial.set_user_attr("constraint_violations", violations)
    for key, value in violations.items():
        trial.set_constraint(key, value)


class Objective:
    """The study's objective over a fixed space and proxy dataset."""

    def __init__(self, space: SearchSpace, data: ProxyData, *, device: torch.device) -> None:
        self.space = space
        self.data = data
        self.device = device
        cfg = space.config
        self.budget = TrainBudget(**cfg.budget.model_dump(exclude={"device"}))
        self.latency_cfg = cfg.latency
        self.seed = cfg.search.seed

    def _find_duplicate(self, study: optuna.Study, key: str, signature: str) -> FrozenTrial | None:
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            if t.user_attrs.get("duplicate_of") is not None:
                continue
            if t.state == TrialState.PRUNED and not t.user_attrs.get("infeasible"):
                continue
            if t.user_attrs.get("arch_key") == key or t.user_attrs.get("signature") == signature:
                return t
        return None

    def _objective_values(self, attrs: dict) -> tuple[float, ...]:
        return tuple(float(attrs[m]) for m in self.space.config.objectives)

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
        arch = suggest_architecture(trial, self.space, in_channels=self.data.in_channels,
                                    input_size=self.data.input_size,
                                    num_classes=self.data.num_classes)
        trial.set_user_attr("arch", arch.to_dict())
        trial.set_user_attr("arch_short", arch.short())
        trial.set_user_attr("arch_key", arch.key())
        # every trial starts from the same initialisation seed: a fair comparison
        torch.manual_seed(self.seed)
        model = build_model(arch)
        signature = model_signature(model)
        trial.set_user_attr("signature", signature)

        dup = self._find_duplicate(trial.study, arch.key(), signature)
        if dup is not None:
            trial.set_user_attr("duplicate_of", dup.number)
            for k in _RESULT_ATTRS:
                if k in dup.user_attrs:
                    trial.set_user_attr(k, dup.user_attrs[k])
            _record_constraints(trial, dup.user_attrs.get("constraint_violations", {}))
            if dup.state == TrialState.PRUNED:
                raise optuna.TrialPruned(f"duplicate of infeasible trial {dup.number}")
            return tuple(dup.values)

        lat_device = torch.device(self.latency_cfg.device)
        model.to(lat_device)
        shape = (self.latency_cfg.batch_size, self.data.in_channels,
                 self.data.input_size, self.data.input_size)
        latency = measure_latency(model, shape, threads=self.latency_cfg.threads,
                                  repeats=self.latency_cfg.repeats)
        metrics: dict[str, float] = {
            "params": count_params(model),
            "flops": count_flops(model, (1, *shape[1:])),
            "latency_ms": latency.median_ms,
        }
        for k, v in metrics.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("latency", latency.to_dict())
        violations = constraint_violations(self.space, metrics)
        _record_constraints(trial, violations)
        if any(v > 0 for v in violations.values()):
            trial.set_user_attr("infeasible", True)
            raise optuna.TrialPruned("violates a constraint; not trained")

        model.to(self.device)
        try:
            result = train_proxy(model, self.data, budget=self.budget, seed=self.seed)
        except TrainingDiverged as e:
            trial.set_user_attr("fail_reason", str(e))
            raise
        except torch.OutOfMemoryError as e:
            trial.set_user_attr("fail_reason", f"out of memory: {str(e).splitlines()[0]}")
            raise
        attrs = asdict(result)
        trial.set_user_attr("accuracy", attrs.pop("val_accuracy"))
        for k in ("val_loss", "train_seconds", "images_per_second"):
            trial.set_user_attr(k, attrs[k])
        return self._objective_values({**metrics, "accuracy": result.val_accuracy})
