"""Pareto fronts and the knee: which points no other point dominates, and the balanced one.

Generic over the points (trials, claims): anything with ``number`` and
objective ``values``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import optuna

from errors import UserError


class PickError(UserError, ValueError):
    """A ``--pick`` that names nothing on the front."""


def study_directions(study: optuna.Study) -> list[str]:
    """``"maximize"``/``"minimize"`` per objective, as ``knee`` takes them."""
    return ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize"
            for d in study.directions]


class _Point(Protocol):
    number: int

    @property
    def values(self) -> Sequence[float]: ...


P = TypeVar("P", bound=_Point)


def _dominates(a: Sequence[float], b: Sequence[float], signs: Sequence[float]) -> bool:
    return (all(s * x >= s * y for x, y, s in zip(a, b, signs, strict=True))
            and any(s * x > s * y for x, y, s in zip(a, b, signs, strict=True)))


def non_dominated(points: Sequence[P], directions: Sequence[str], *,
                  values: Callable[[P], Sequence[float]] = lambda p: p.values) -> list[P]:
    """The points no other point dominates on ``values``, one per value vector (the lowest
    number), sorted by the first objective."""
    signs = [1.0 if d == "maximize" else -1.0 for d in directions]
    front: dict[tuple[float, ...], P] = {}
    for p in sorted(points, key=lambda p: p.number):
        v = tuple(values(p))
        if v not in front and not any(_dominates(values(q), v, signs) for q in points):
            front[v] = p
    return sorted(front.values(), key=lambda p: tuple(values(p))[0])


def promotion_order(vectors: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices of ``vectors``, best first: by non-dominated sorting (the front, then the front
    of what is left, ...), and within one front by crowding distance, largest first (NSGA-II's
    rule: the ends of a front, then the points with the most room around them), so that a
    rung promoting its top 1/eta spreads along the front instead of crowding one corner.
    Ties keep the input order."""
    signs = [1.0 if d == "maximize" else -1.0 for d in directions]
    left = list(range(len(vectors)))
    order: list[int] = []
    while left:
        front = [i for i in left
                 if not any(_dominates(vectors[j], vectors[i], signs) for j in left if j != i)]
        crowd = {i: 0.0 for i in front}
        for m in range(len(signs)):
            ranked = sorted(front, key=lambda i: vectors[i][m])
            span = vectors[ranked[-1]][m] - vectors[ranked[0]][m]
            crowd[ranked[0]] = crowd[ranked[-1]] = math.inf
            for a, i, b in zip(ranked, ranked[1:], ranked[2:], strict=False):
                if span > 0:
                    crowd[i] += (vectors[b][m] - vectors[a][m]) / span
        order += sorted(front, key=lambda i: -crowd[i])
        left = [i for i in left if i not in crowd]
    return order


def knee(front: Sequence[P], directions: list[str], *,
         values: Callable[[P], Sequence[float]] = lambda p: p.values) -> P:
    """The front's point nearest the ideal point after min-max normalising each objective
    (on ``values``).

    With two objectives this is the balanced choice: neither the most accurate
    nor the fastest, but the one that gives up least of both.
    """
    if not front:
        raise PickError("the study has no complete feasible trial to pick from")
    vecs = {p.number: tuple(values(p)) for p in front}
    n = len(next(iter(vecs.values())))
    lo = [min(v[i] for v in vecs.values()) for i in range(n)]
    hi = [max(v[i] for v in vecs.values()) for i in range(n)]

    def distance(p: P) -> float:
        v = vecs[p.number]
        total = 0.0
        for i, d in enumerate(directions):
            span = hi[i] - lo[i]
            if span == 0:
                continue
            # 0 = best on this objective, 1 = worst
            gap = (hi[i] - v[i]) / span if d == "maximize" else (v[i] - lo[i]) / span
            total += gap * gap
        return math.sqrt(total)

    return min(front, key=lambda p: (distance(p), p.number))


def hypervolume_2d(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by minimisation ``points`` up to ``reference``."""
    hv, best_y = 0.0, reference[1]
    for x, y in sorted(points):
        if x < reference[0] and y < best_y:
            hv += (reference[0] - x) * (best_y - y)
            best_y = y
    return hv
