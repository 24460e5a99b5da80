"""How finely a set of trainings ranks architectures: the figures of issue 30's table, shared by
``bench/proxy_recipes.py`` and ``bench/finetune.py``.

``scores`` is ``{arch_key: [score per seed]}`` with the same seeds for every architecture (paired:
seed s of every architecture shares its initialisation).
"""

from __future__ import annotations

import random
import statistics

from stats import kendall_tau


def ranking_figures(scores: dict[str, list[float]], plain_key: str) -> dict[str, float]:
    """The pooled single-seed std of the paired difference to ``plain_key`` (``paired_sd``), the
    pooled single-seed std of a score (``single_sd``), the std of the architectures' means
    (``spread``) and discriminability (``spread / single_sd``)."""
    single = (sum(statistics.variance(v) for v in scores.values()) / len(scores)) ** 0.5
    plain = scores[plain_key]
    paired = [[x - p for x, p in zip(v, plain, strict=True)] for a, v in scores.items() if a != plain_key]
    paired_sd = (sum(statistics.variance(d) for d in paired) / len(paired)) ** 0.5
    spread = statistics.stdev(statistics.fmean(v) for v in scores.values())
    return {"paired_sd": paired_sd, "single_sd": single, "spread": spread,
            "discriminability": spread / single if single > 0 else float("inf")}


def tau_with_interval(means: dict[str, float],
                      truth: dict[str, list[float]]) -> tuple[float, float, float, int]:
    """Kendall's tau of ``means`` against the truth's means, and a bootstrap 95% interval over
    architectures (2,000 resamples; resamples with fewer than 3 distinct architectures skipped)."""
    common = sorted(a for a in means if a in truth)
    if len(common) < 3:
        return float("nan"), float("nan"), float("nan"), len(common)
    long = {a: statistics.fmean(truth[a]) for a in common}
    tau = kendall_tau([means[a] for a in common], [long[a] for a in common])
    rng = random.Random(0)
    boots = []
    for _ in range(2000):
        pick = [rng.choice(common) for _ in common]
        if len(set(pick)) > 2:
            t = kendall_tau([means[a] for a in pick], [long[a] for a in pick])
            if t == t:
                boots.append(t)
    boots.sort()
    return tau, boots[int(0.025 * len(boots))], boots[int(0.975 * len(boots)) - 1], len(common)
