"""The study's Pareto front and the choice of one architecture on it."""

from __future__ import annotations

import math
import re

import optuna
from optuna.trial import FrozenTrial


class PickError(ValueError):
    """A ``--pick`` that names nothing on the front."""


def study_directions(study: optuna.Study) -> list[str]:
    """``"maximize"``/``"minimize"`` per objective, as ``knee`` takes them."""
    return ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize"
            for d in study.directions]


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """Feasible non-dominated complete trials, one per value vector, by first objective.

    Duplicates (trials that reused another's result) are left out: the
    original stands for them.
    """
    seen: set[tuple[float, ...]] = set()
    front = []
    for t in sorted(study.best_trials, key=lambda t: t.number):
        if t.user_attrs.get("duplicate_of") is not None or tuple(t.values) in seen:
            continue
        seen.add(tuple(t.values))
        front.append(t)
    return sorted(front, key=lambda t: t.values[0])


def knee(front: list[FrozenTrial], directions: list[str]) -> FrozenTrial:
    """The front's point nearest the ideal point after min-max normalising each objective.

    With two objectives this is the balanced choice: neither the most accurate
    nor the fastest, but the one that gives up least of both.
    """
    if not front:
        raise PickError("the study has no complete feasible trial to pick from")
    n = len(front[0].values)
    lo = [min(t.values[i] for t in front) for i in range(n)]
    hi = [max(t.values[i] for t in front) for i in range(n)]

    def distance(t: FrozenTrial) -> float:
        total = 0.0
        for i, d in enumerate(directions):
            span = hi[i] - lo[i]
            if span == 0:
                continue
            # 0 = best on this objective, 1 = worst
            gap = (hi[i] - t.values[i]) / span if d == "maximize" else (t.values[i] - lo[i]) / span
            total += gap * gap
        return math.sqrt(total)

    return min(front, key=lambda t: (distance(t), t.number))


def pick_trial(study: optuna.Study, pick: str) -> FrozenTrial:
    """``knee``, ``max-accuracy``, ``fastest``, ``latency<=MS`` or ``trial=N``.

    Raises:
        PickError: an unknown pick, or one that matches nothing.
    """
    objectives = list(study.user_attrs.get("objectives", []))
    front = pareto_front(study)
    if not front:
        raise PickError(f"study {study.study_name!r} has no complete feasible trial yet")
    if pick == "knee":
        return knee(front, study_directions(study))
    if pick == "max-accuracy":
        return max(front, key=lambda t: (t.user_attrs["accuracy"], -t.number))
    if pick == "fastest":
        return min(front, key=lambda t: (t.user_attrs["latency_ms"], t.number))
    m = re.fullmatch(r"latency<=([0-9.]+)", pick)
    if m:
        limit = float(m.group(1))
        ok = [t for t in front if t.user_attrs["latency_ms"] <= limit]
        if not ok:
            lat = [t.user_attrs["latency_ms"] for t in front]
            raise PickError(f"no Pareto architecture has latency_ms <= {limit:g}; the front "
                            f"spans {min(lat):.3f} to {max(lat):.3f} ms")
        return max(ok, key=lambda t: (t.user_attrs["accuracy"], -t.number))
    m = re.fullmatch(r"trial=([0-9]+)", pick)
    if m:
        number = int(m.group(1))
        trials = [t for t in study.get_trials(deepcopy=False) if t.number == number]
        if not trials or trials[0].state != optuna.trial.TrialState.COMPLETE:
            raise PickError(f"trial {number} is not a complete trial of study {study.study_name!r}")
        return trials[0]
    raise PickError(f"unknown pick {pick!r}; allowed: knee, max-accuracy, fastest, "
                    f"latency<=MS, trial=N (objectives: {', '.join(objectives)})")
