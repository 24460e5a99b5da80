"""The statistics home: tau, its chance level, t-intervals, the verdict rule, the detectable
difference."""

from __future__ import annotations

import itertools
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from stats import chance_tau, interval_verdict, kendall_tau, paired_half_width, t_interval

ROOT = Path(__file__).resolve().parents[2]


def test_kendall_tau_matches_scipy() -> None:
    from scipy.stats import kendalltau

    x, y = [1.0, 2.0, 3.0, 4.0, 4.0, 6.0], [1.1, 1.9, 3.5, 3.2, 5.0, 5.0]
    assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y).statistic)


def test_chance_tau_is_the_permutation_quantile() -> None:
    """Against all 7! orders counted by brute force, the table values, and the normal tail."""
    for n in (5, 6, 7):
        taus = [kendall_tau(list(range(n)), list(p)) for p in itertools.permutations(range(n))]
        limit = chance_tau(n)
        assert sum(abs(t) >= limit - 1e-12 for t in taus) / len(taus) <= 0.05
        below = max(abs(t) for t in taus if abs(t) < limit - 1e-12)  # the next smaller tau is not rare
        assert sum(abs(t) >= below - 1e-12 for t in taus) / len(taus) > 0.05
    assert chance_tau(4) == math.inf and chance_tau(10) == pytest.approx(0.511, abs=1e-3)
    assert chance_tau(12) == pytest.approx(0.455, abs=1e-3)
    assert chance_tau(40) == pytest.approx(chance_tau(41), abs=0.015)  # exact meets normal


def test_t_interval_against_the_textbook_and_the_verdicts() -> None:
    values = [0.90, 0.92, 0.91, 0.95]
    lo, hi = t_interval(values)
    half = 3.182446305 * statistics.stdev(values) / 2  # t(0.975, 3) * s / sqrt(4)
    assert (lo, hi) == pytest.approx((statistics.fmean(values) - half, statistics.fmean(values) + half))
    assert t_interval([0.9]) is None
    assert [interval_verdict(iv) for iv in ((0.1, 0.2), (-0.2, -0.1), (-0.1, 0.1), None)] == [
        "better", "worse", "indistinguishable", "unpaired"]


def test_the_detectable_difference_pools_by_degrees_of_freedom() -> None:
    a, b = [0.01, 0.03, 0.02], [0.00, -0.02]
    half, std, n = paired_half_width([a, b])
    pooled = math.sqrt((statistics.variance(a) * 2 + statistics.variance(b)) / 3)
    assert std == pytest.approx(pooled) and n == 2
    assert half == pytest.approx(12.70620474 * pooled / math.sqrt(2))  # t(0.975, 1), the fewest seeds


def test_it_imports_neither_torch_nor_optuna_nor_scipy() -> None:
    code = ("import sys\nimport stats\n"
            "print(sorted(m for m in ('torch', 'optuna', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
