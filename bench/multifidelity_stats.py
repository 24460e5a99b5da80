"""The statistics and tables that bench/multifidelity.py reports: how much of the accuracy
is the architecture's (ICC), the searches' hypervolumes, and each search against
single-fidelity TPE paired by search seed."""

from __future__ import annotations

import random
import statistics

from stats import interval_verdict, t_interval


def architecture_share(groups: list[list[float]], draws: int = 2000) -> dict:
    """How much of the spread in accuracy is the architecture's and how much the seed's:
    the intraclass correlation ICC(1) of a one-way random-effects model over ``groups``
    (one architecture's accuracies over seeds each; unequal sizes allowed), with a 95%
    bootstrap interval over architectures, and the two standard deviations. An ICC near 0
    means seeds decide the ranking; no search, with or without rungs, can rank better than
    the data lets it."""
    groups = [g for g in groups if len(g) >= 2]
    if len(groups) < 3:
        raise ValueError(f"need at least 3 architectures with 2 or more seeds, got {len(groups)}")

    def components(gs: list[list[float]]) -> tuple[float, float, float]:
        n = sum(map(len, gs))
        grand = sum(map(sum, gs)) / n
        ms_between = sum(len(g) * (statistics.fmean(g) - grand) ** 2 for g in gs) / (len(gs) - 1)
        ms_within = sum((x - statistics.fmean(g)) ** 2 for g in gs for x in g) / (n - len(gs))
        k0 = (n - sum(len(g) ** 2 for g in gs) / n) / (len(gs) - 1)  # the typical group size
        between = max(0.0, (ms_between - ms_within) / k0)
        icc = (ms_between - ms_within) / (ms_between + (k0 - 1) * ms_within) if ms_between > 0 else 0.0
        return icc, between ** 0.5, ms_within ** 0.5

    icc, sd_arch, sd_seed = components(groups)
    rng = random.Random(0)
    boot = sorted(components([rng.choice(groups) for _ in groups])[0] for _ in range(draws))
    return {"icc": icc, "low": boot[int(0.025 * draws)], "high": boot[int(0.975 * draws) - 1],
            "sd_architecture": sd_arch, "sd_seed": sd_seed, "architectures": len(groups)}


def share_line(share: dict, what: str) -> str:
    return (f"Architecture against seed over {share['architectures']} {what}: the architecture "
            f"explains {share['icc']:.2f} of the variance in accuracy (ICC; 95% "
            f"{share['low']:.2f} to {share['high']:.2f}); sd {share['sd_architecture'] * 100:.1f} "
            f"points between architectures, {share['sd_seed'] * 100:.1f} between seeds.")


def table(runs: list[dict], methods: list[str], n_rungs: int) -> str:
    lines = ["| search | hypervolume at 50% / 100% of the compute (mean ± sd over seeds) | "
             "architectures trained (per rung) | training s | wall s |", "|---|---|---|---|---|"]
    for m in methods:
        rs = [r for r in runs if r["method"] == m]
        hv = {f: [r["hypervolume"][f] for r in rs if f in r["hypervolume"]] for f in ("0.5", "1")}
        cells = " / ".join(f"{statistics.fmean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0:.3f}"
                           for v in hv.values() if v)
        per_rung = [round(statistics.fmean(r["per_rung"][k] for r in rs), 1) for k in range(n_rungs)]
        lines.append(f"| {m} | {cells} | {statistics.fmean(r['architectures'] for r in rs):.1f} "
                     f"{per_rung} | {statistics.fmean(r['train_seconds'] for r in rs):.0f} | "
                     f"{statistics.fmean(r['wall_seconds'] for r in rs):.0f} |")
    return "\n".join(lines)


def paired(runs: list[dict], methods: list[str]) -> dict[str, dict]:
    """Each search against the first of ``methods`` (today's single-fidelity TPE), paired by
    search seed: its final hypervolume minus the first's (equal compute), and its hypervolume
    at half the compute minus the first's final one (the issue's "with half the compute"),
    each as mean and 95% t-interval over the seeds both ran."""
    def by_seed(method: str, frac: str) -> dict[int, float]:
        return {r["seed"]: r["hypervolume"][frac] for r in runs
                if r["method"] == method and frac in r["hypervolume"]}

    base = by_seed(methods[0], "1")
    out = {}
    for m in methods[1:]:
        for frac, what in (("1", "equal compute"), ("0.5", "half the compute")):
            other = by_seed(m, frac)
            diffs = [other[s] - base[s] for s in sorted(base.keys() & other.keys())]
            if diffs:
                out[f"{m} at {what} - {methods[0]}"] = {
                    "mean": statistics.fmean(diffs), "interval": t_interval(diffs), "seeds": len(diffs)}
    return out


VERDICT_WORDS = {"better": "better", "worse": "worse", "indistinguishable": "a tie (within the noise)",
                 "unpaired": "one seed: no interval"}


def paired_table(diffs: dict[str, dict]) -> str:
    lines = ["| difference in hypervolume (paired by search seed) | mean | 95% interval | seeds | "
             "verdict |", "|---|---|---|---|---|"]
    for name, d in diffs.items():
        low, high = d["interval"] or (float("nan"), float("nan"))
        verdict = VERDICT_WORDS[interval_verdict(d["interval"])]
        lines.append(f"| {name} | {d['mean']:+.3f} | {low:+.3f} to {high:+.3f} | {d['seeds']} | "
                     f"{verdict} |")
    return "\n".join(lines)
