"""t-intervals, the verdict an interval of a difference gives, and the detectable difference."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Literal

IntervalVerdict = Literal["better", "worse", "indistinguishable", "unpaired"]


def t_half_width(n: int, std: float, level: float = 0.95) -> float:
    """Half-width of the two-sided ``level`` t-interval of a mean of ``n`` values with standard
    deviation ``std`` (n >= 2)."""
    # scipy loads here, not at import: it is the slowest import of a command's start (~1-4 s)
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float] | None:
    """Two-sided t-interval of the mean of ``values``; None with fewer than two."""
    n = len(values)
    if n < 2:
        return None
    mean = statistics.fmean(values)
    half = t_half_width(n, statistics.stdev(values), level)
    return float(mean - half), float(mean + half)


def interval_verdict(interval: tuple[float, float] | None) -> IntervalVerdict:
    """What an interval of a difference says: "better" above 0, "worse" below 0,
    "indistinguishable" across it, "unpaired" without an interval (fewer than two pairs)."""
    if interval is None:
        return "unpaired"
    return "better" if interval[0] > 0 else "worse" if interval[1] < 0 else "indistinguishable"


def paired_half_width(differences: Sequence[Sequence[float]],
                      level: float = 0.95) -> tuple[float, float, int]:
    """The smallest paired difference a study could call, from the paired differences of several
    architectures (each a list over seeds, at least two): the half-width of the ``level``
    t-interval at the fewest seeds among them, with the pooled standard deviation (each list
    weighted by its degrees of freedom). Returns ``(half_width, pooled_std, seeds)``."""
    dof = sum(len(d) - 1 for d in differences)
    std = math.sqrt(sum(statistics.variance(d) * (len(d) - 1) for d in differences) / dof)
    n = min(len(d) for d in differences)
    return t_half_width(n, std, level), std, n
