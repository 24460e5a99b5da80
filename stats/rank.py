"""Rank agreement: Kendall's tau-b, and the tau that a random order reaches."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two equally long sequences (pure Python: the device may lack SciPy)."""
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    n0 = concordant + discordant
    denom = math.sqrt((n0 + ties_x) * (n0 + ties_y))
    return (concordant - discordant) / denom if denom else float("nan")


def chance_tau(n: int, level: float = 0.95) -> float:
    """The smallest |Kendall tau| of ``n`` pairs that a random order reaches with probability
    at most ``1 - level``: a tau of that size or more is beyond chance (two-sided, no ties).
    Exact up to 40 pairs, from the distribution of inversions over the n! orders (Mahonian
    numbers); the normal approximation above. ``inf`` when no tau of ``n`` pairs is beyond
    chance (n <= 4 at 95%).
    """
    if n < 2:
        return math.inf
    pairs = n * (n - 1) / 2
    if n > 40:
        z = statistics.NormalDist().inv_cdf(1 - (1 - level) / 2)
        return z * math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))
    counts = [1]  # counts[k]: orders of m items with k inversions
    for m in range(2, n + 1):  # the m-th item adds 0 .. m - 1 inversions
        prefix = [0]
        for c in counts:
            prefix.append(prefix[-1] + c)
        size = len(counts) + m - 1
        counts = [prefix[min(k, len(counts) - 1) + 1] - prefix[max(0, k - m + 1)] for k in range(size)]
    total, tail = math.factorial(n), 0
    for k in range(len(counts) // 2 + 1):  # tau = 1 - 2 k / pairs, and its mirror -tau
        tail += counts[k]
        if 2 * tail / total > 1 - level:  # k inversions is no longer rare enough
            return math.inf if k == 0 else 1 - 2 * (k - 1) / pairs
    return math.inf
