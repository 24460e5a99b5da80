"""The statistics the multi-fidelity benchmark reports (bench/multifidelity.py)."""

import importlib.util
import random
import statistics
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def mf():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_multifidelity", BENCH / "multifidelity.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_architecture_share_matches_the_anova_by_hand(mf):
    groups = [[0.70, 0.72, 0.74], [0.60, 0.61, 0.62], [0.80, 0.83, 0.86]]
    means = [statistics.fmean(g) for g in groups]
    grand = statistics.fmean(means)
    ms_between = 3 * sum((m - grand) ** 2 for m in means) / 2
    ms_within = sum((x - m) ** 2 for g, m in zip(groups, means, strict=True) for x in g) / 6
    share = mf.architecture_share(groups)
    assert share["icc"] == pytest.approx((ms_between - ms_within) / (ms_between + 2 * ms_within))
    assert share["sd_seed"] == pytest.approx(ms_within ** 0.5)
    assert share["sd_architecture"] == pytest.approx(((ms_between - ms_within) / 3) ** 0.5)
    assert share["architectures"] == 3


def test_architecture_share_tells_architectures_from_seeds(mf):
    rng = random.Random(1)
    distinct = [[0.5 + 0.02 * a + rng.gauss(0, 0.002) for _ in range(3)] for a in range(20)]
    alike = [[0.7 + rng.gauss(0, 0.01) for _ in range(3)] for _ in range(20)]
    high, low = mf.architecture_share(distinct), mf.architecture_share(alike)
    assert high["low"] > 0.9  # the interval, not only the point, says: the architecture decides
    assert low["low"] < 0.1 and low["icc"] < 0.4
    assert high["low"] <= high["icc"] <= high["high"]


def test_architecture_share_needs_repeated_seeds(mf):
    with pytest.raises(ValueError, match="at least 3 architectures with 2 or more seeds"):
        mf.architecture_share([[0.7], [0.8, 0.81], [0.6]])
