"""The study's Pareto front and the choice of one architecture on it."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

import optuna
from optuna.trial import FrozenTrial

from reports.claims import Claim, StudyClaims, study_claims


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


class _Point(Protocol):
    number: int

    @property
    def values(self) -> Sequence[float]: ...


P = TypeVar("P", bound=_Point)


def knee(front: Sequence[P], directions: list[str]) -> P:
    """The front's point nearest the ideal point after min-max normalising each objective.

    With two objectives this is the balanced choice: neither the most accurate
    nor the fastest, but the one that gives up least of both.
    """
    if not front:
        raise PickError("the study has no complete feasible trial to pick from")
    n = len(front[0].values)
    lo = [min(t.values[i] for t in front) for i in range(n)]
    hi = [max(t.values[i] for t in front) for i in range(n)]

    def distance(t: P) -> float:
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


def pick_claim(study: optuna.Study, pick: str, *, claims: StudyClaims | None = None) -> Claim:
    """``knee``, ``max-accuracy``, ``fastest``, ``latency<=MS`` or ``trial=N``, chosen on the
    front the study presents (confirmed means where confirmation ran; ``reports.claims``).

    Raises:
        PickError: an unknown pick, or one that matches nothing.
    """
    objectives = list(study.user_attrs.get("objectives", []))
    claims = claims or study_claims(study)
    front = claims.front
    if not front:
        raise PickError(f"study {study.study_name!r} has no complete feasible trial yet")
    if pick == "knee":
        return knee(front, study_directions(study))
    if pick == "max-accuracy":
        return max(front, key=lambda c: (c.mean, -c.number))
    if pick == "fastest":
        return min(front, key=lambda c: (c.latency_ms, c.number))
    m = re.fullmatch(r"latency<=(.*)", pick)
    if m:
        try:
            limit = float(m.group(1))
        except ValueError:
            limit = float("nan")
        if not (math.isfinite(limit) and limit > 0):
            raise PickError(f"pick {pick!r}: the latency bound must be a positive number of ms, "
                            f"e.g. latency<=2.5")
        ok = [c for c in front if c.latency_ms <= limit]
        if not ok:
            lat = [c.latency_ms for c in front]
            raise PickError(f"no Pareto architecture has latency_ms <= {limit:g}; the front "
                            f"spans {min(lat):.3f} to {max(lat):.3f} ms")
        return max(ok, key=lambda c: (c.mean, -c.number))
    m = re.fullmatch(r"trial=([0-9]+)", pick)
    if m:
        number = int(m.group(1))
        by_number = {c.number: c for c in claims.claims}
        if number not in by_number:
            raise PickError(f"trial {number} is not a complete, feasible, original trial of study "
                            f"{study.study_name!r}")
        return by_number[number]
    raise PickError(f"unknown pick {pick!r}; allowed: knee, max-accuracy, fastest, "
                    f"latency<=MS, trial=N (objectives: {', '.join(objectives)})")
