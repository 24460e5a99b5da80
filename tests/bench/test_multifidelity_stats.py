"""The statistics the multi-fidelity benchmark reports (bench/multifidelity.py)."""

import random
import statistics

import pytest


@pytest.fixture(scope="module")
def mf():
    from bench import multifidelity

    return multifidelity


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


def _run(method: str, seed: int, half: float, full: float) -> dict:
    return {"method": method, "seed": seed, "hypervolume": {"0.5": half, "1": full}}


def test_paired_pairs_by_seed_and_compares_half_against_full(mf):
    base = [0.20, 0.22, 0.21, 0.25]
    runs = [_run("tpe", s, 0.0, hv) for s, hv in enumerate(base)]
    # rungs: +0.01 at every seed at equal compute; at half the compute -0.02 +- noise
    runs += [_run("tpe+rungs", s, hv - 0.02 + 0.001 * (-1) ** s, hv + 0.01)
             for s, hv in reversed(list(enumerate(base)))]  # order must not matter
    runs.append(_run("tpe+rungs", 9, 1.0, 1.0))  # a seed the baseline did not run: unpaired
    diffs = mf.paired(runs, ["tpe", "tpe+rungs"])
    equal, half = diffs["tpe+rungs at equal compute - tpe"], diffs["tpe+rungs at half the compute - tpe"]
    assert equal["seeds"] == half["seeds"] == 4
    assert equal["mean"] == pytest.approx(0.01) and equal["interval"] == pytest.approx((0.01, 0.01))
    assert half["mean"] == pytest.approx(-0.02) and half["interval"][1] < 0
    table = mf.paired_table(diffs)
    assert "| +0.010 | +0.010 to +0.010 | 4 | better |" in table
    assert "| -0.020 |" in table and "| worse |" in table


def test_paired_calls_an_interval_across_zero_a_tie(mf):
    runs = [_run("tpe", s, 0.0, 0.2) for s in range(3)]
    runs += [_run("random+rungs", s, 0.2, 0.2 + d) for s, d in enumerate((0.01, -0.01, 0.002))]
    diffs = mf.paired(runs, ["tpe", "random+rungs"])
    low, high = diffs["random+rungs at equal compute - tpe"]["interval"]
    assert low < 0 < high
    assert "a tie (within the noise)" in mf.paired_table(diffs)


@pytest.mark.parametrize("method", ["tpe", "tpe+rungs", "random+rungs", "tpe+rungs+highest"])
def test_each_method_writes_the_space_it_names(mf, method, tmp_path):
    from runners.catalog import model_catalog
    from spaces import load_space

    sampler, learn_from = mf.METHODS[method]
    text = mf.PROXIES["medium"].space(method.replace("+", "-"), sampler, 3, learn_from)
    path = tmp_path / "s.yaml"
    path.write_text(text)
    cfg = load_space(path, catalog=model_catalog()).config
    assert cfg.search.sampler == sampler and cfg.search.seed == 3
    if learn_from is None:
        assert cfg.fidelity is None
    else:
        assert cfg.fidelity.learn_from == learn_from and len(cfg.fidelity.rungs) == 2
