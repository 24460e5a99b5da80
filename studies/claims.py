"""From measurements to claims: what a study can say, with how sure it is.

A search trial trains an architecture with one seed (or ``search.seeds``);
confirmation (``search.confirm``) trains the front and the no-attention
reference with more seeds, the same seeds for all, and stores each training in
the study (``confirm:<digest>:<seed>`` study attributes). This module reads
both and returns, per architecture: the accuracies by seed, their mean with a
t-interval, and the paired difference to the reference over the seeds both
have, with its t-interval. An architecture is *better* (or *worse*) than no
attention only when that interval excludes 0; otherwise it is
*indistinguishable* at this budget. The front that the CLI, ``best.yaml``, the
export and the dashboard present is computed from the confirmed means.

Latency in ms is shown through one per-study scale: the median of the plain
backbone's own timings over all trials (each trial times it alongside its
candidate), times each architecture's ratio. Machines drift; ratios do not.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import optuna

from spaces import ConfirmConfig, SearchConfig
from stats import interval_verdict, paired_half_width, t_interval
from studies.advice import action, run_warning
from studies.pareto import PickError, knee, non_dominated, study_directions
from studies.record import StudyRecord, TrialRecord, confirmations, records

Verdict = Literal["reference", "better", "worse", "indistinguishable", "unpaired", "no reference"]


@dataclass(frozen=True)
class Claim:
    """What the study says about one architecture.

    ``values`` are the trial's objective values with accuracy replaced by the
    mean over seeds: the front and the knee are computed on them.
    """

    number: int
    arch_short: str
    arch_key: str
    reference: str | None
    accuracies: Mapping[int, float]  # seed -> validation accuracy
    mean: float
    interval: tuple[float, float] | None
    diff: float | None  # mean paired difference to the reference (accuracy units)
    diff_interval: tuple[float, float] | None
    paired_seeds: int
    verdict: Verdict
    latency_ratio: float | None
    latency_ms: float  # ratio x the study's scale when the ratio was measured
    values: tuple[float, ...]
    search_values: tuple[float, ...] = ()  # the trial's own objective values (the search's seeds)

    @property
    def seeds(self) -> int:
        return len(self.accuracies)

    def accuracy_text(self) -> str:
        """``0.7950 ± 0.0060 (3 seeds)``: the half-width of the interval."""
        if self.interval is None:
            return f"{self.mean:.4f} (1 seed)"
        return f"{self.mean:.4f} ± {(self.interval[1] - self.interval[0]) / 2:.4f} ({self.seeds} seeds)"

    def verdict_text(self) -> str:
        """``vs none +0.8 [+0.1, +1.5]`` in points, or why there is no verdict."""
        if self.verdict == "reference":
            return "the reference"
        if self.verdict == "no reference":
            return "no reference to compare with"
        if self.diff is None or self.diff_interval is None:
            return f"not confirmed ({self.paired_seeds} paired seed{'s' * (self.paired_seeds != 1)})"
        lo, hi = (100 * v for v in self.diff_interval)
        body = f"vs none {100 * self.diff:+.1f} [{lo:+.1f}, {hi:+.1f}]"
        if self.verdict == "indistinguishable":
            return f"indistinguishable from none ({body})"
        return f"{self.verdict} than none ({body})"


class StudyClaims(NamedTuple):
    claims: list[Claim]  # every original complete feasible trial
    front: list[Claim]  # non-dominated on confirmed means (or single-seed when not confirmed)
    reference: Claim | None
    confirmed: bool  # whether ``front`` rests on confirmed (multi-seed) means
    level: float
    latency_scale_ms: float | None
    verdict: str  # one plain sentence
    # multi-fidelity: the rung every claim is compared at (the highest an architecture other
    # than the reference reached); None in a single-fidelity study
    rung: int | None = None
    # the smallest paired difference the confirmation could have called (``Detectable``)
    detectable: Detectable | None = None
    action: str = ""  # the result in words a person acts on (studies.advice)
    warning: str | None = None  # why the run cannot rank anything, when it cannot (studies.advice)
    num_classes: int | None = None
    confirm_seeds: int = 2  # the seeds an architecture needs to count as confirmed


class Detectable(NamedTuple):
    """The smallest difference to the reference that the study's confirmation could have called:
    the half-width of the ``level`` t-interval of a paired difference over ``seeds`` pairs, with
    the paired standard deviation the study measured (pooled over ``architectures``). A true
    difference of this size is called about half the time; one inside it cannot be told from
    noise. Accuracy units."""

    difference: float
    paired_std: float
    seeds: int
    architectures: int

    def text(self, level: float) -> str:
        return (f"the smallest difference this confirmation could have called is "
                f"{100 * self.difference:.1f} points ({self.seeds} paired seeds, {100 * level:.0f}%; "
                f"paired std {100 * self.paired_std:.1f} points over {self.architectures} "
                f"architecture{'s' * (self.architectures != 1)})")


def detectable_difference(claims: Sequence[Claim], reference: Claim | None, *,
                          level: float) -> Detectable | None:
    """``Detectable`` from the paired differences to ``reference`` of every claim with at least
    two paired seeds (pooled variance, each claim weighted by its degrees of freedom), at the
    fewest paired seeds among them; None without such a claim."""
    if reference is None:
        return None
    pairs = []
    for c in claims:
        common = sorted(set(c.accuracies) & set(reference.accuracies))
        if c.verdict != "reference" and len(common) >= 2:
            pairs.append([c.accuracies[s] - reference.accuracies[s] for s in common])
    if not pairs:
        return None
    half, std, n = paired_half_width(pairs, level)
    return Detectable(half, std, n, len(pairs))


def latency_scale_ms(study: optuna.Study) -> float | None:
    """The study's one latency scale: the plain backbone's median ms as timed beside the first
    trial to finish that timed it; None if none did. Every latency a person reads is
    ``latency_ratio`` x this scale (``display_latency_ms``), so it is fixed from the first such
    trial on: a trial's line, trials.csv, an export and the dashboard show the same ms for it
    at any time, in the order of the ratios."""
    return _latency_scale(records(study))


def _latency_scale(recs: Sequence[TrialRecord]) -> float | None:
    timed = [r for r in recs if not r.is_duplicate and r.latency_record.baseline_median_ms is not None]
    if not timed:
        return None
    first = min(timed, key=lambda r: (r.completed_at if r.completed_at is not None else math.inf, r.number))
    return float(first.latency_record.baseline_median_ms)  # type: ignore[arg-type]


def _claim(t: TrialRecord, accs: dict[int, float], ref: dict[int, float] | None, *,
           objectives: Sequence[str], level: float, scale: float | None) -> Claim:
    mean = statistics.fmean(accs.values())
    common = sorted(set(accs) & set(ref or {}))
    diffs = [accs[s] - ref[s] for s in common] if ref is not None else []
    diff_iv = t_interval(diffs, level)
    verdict: Verdict
    if t.is_reference:
        verdict = "reference"
    elif ref is None:
        verdict = "no reference"
    else:
        verdict = interval_verdict(diff_iv)
    assert t.values is not None and t.arch_short is not None and t.arch_key is not None  # is_original
    values = tuple(mean if m == "accuracy" else v for m, v in zip(objectives, t.values, strict=True))
    return Claim(t.number, t.arch_short, t.arch_key, t.reference, dict(sorted(accs.items())),
                 mean, t_interval(list(accs.values()), level),
                 statistics.fmean(diffs) if diffs else None, diff_iv, len(common), verdict,
                 t.latency_ratio, display_latency_ms(t, scale), values, t.values)


def display_latency_ms(t: TrialRecord, scale: float | None) -> float:
    """The latency the reports show: ``latency_ratio`` x the study's scale where the ratio was
    measured (``latency_scale_ms``), else the trial's own median."""
    if t.latency_ratio is not None and scale is not None:
        return float(t.latency_ratio * scale)
    return float(t.latency_ms) if t.latency_ms is not None else math.nan


def study_claims(study: optuna.Study, *, level: float | None = None) -> StudyClaims:
    """Every original trial's claim, the front on confirmed means, and the study's verdict."""
    info = StudyRecord.of(study)
    cfg = info.config
    confirm = cfg.confirm if cfg is not None else False
    level = level or (confirm or ConfirmConfig()).level
    seed = (cfg.search if cfg is not None else SearchConfig()).seed
    objectives = info.objectives
    directions = study_directions(study)
    recs = records(study)
    trials = [r for r in recs if r.is_original and not r.is_infeasible]
    rung = report_rung(trials)
    if rung is not None:  # one rung, one budget: results of two rungs are never compared
        trials = [t for t in trials if t.at_rung == rung]
    extra = confirmations(study)
    accs = {t.number: {**t.seed_accuracies(seed), **extra.get(t.arch_key, {})}  # type: ignore[arg-type]
            for t in trials}
    ref_trial = next((t for t in trials if t.is_reference), None)
    ref_accs = accs[ref_trial.number] if ref_trial is not None else None
    scale = _latency_scale(recs)
    claims = [_claim(t, accs[t.number], ref_accs, objectives=objectives, level=level, scale=scale)
              for t in trials]
    reference = next((c for c in claims if c.verdict == "reference"), None)
    # an architecture counts as confirmed with the seeds confirmation gives it (or, with
    # confirm: false, with more than one); a half-finished confirmation confirms nothing yet
    target = confirm.seeds if confirm else 2
    multi = [c for c in claims if c.seeds >= target]
    confirmed = bool(multi) and (reference is None or reference.seeds >= target)
    front = non_dominated(multi if confirmed else claims, directions) if claims else []
    detectable = detectable_difference(multi, reference, level=level) if confirmed else None
    verdict = study_verdict(front, reference, confirmed=confirmed, level=level, planned=bool(confirm),
                            detectable=detectable, confirmed_claims=multi if confirmed else ())
    if confirmed:  # front points of the search that confirmation has not reached
        search_front = non_dominated(claims, directions, values=lambda c: c.search_values)
        pending = [c for c in search_front if c.seeds < target and c.verdict != "reference"]
        if pending:
            verdict += (f" {len(pending)} front architecture(s) of the search are not confirmed yet "
                        f"({', '.join(f'#{c.number}' for c in pending)}): run the same command again.")
    if rung is not None:
        seen = len({t.arch_key for t in recs if t.is_original and not t.rung})
        verdict += (f" Compared at rung {rung}: {len(trials)} of the {seen} architectures trained "
                    "reached it.")
    num_classes = next((t.num_classes for t in trials if t.num_classes is not None), None)
    warning = run_warning(reference.accuracies if reference is not None else None, num_classes)
    better = sorted((c for c in front if c.verdict == "better" and c.diff is not None and c.diff_interval),
                    key=lambda c: -c.diff_interval[0])  # type: ignore[index]
    best = ((better[0].arch_short, better[0].diff, better[0].diff_interval, better[0].latency_ratio)
            if better else None)
    todo = action(confirmed=confirmed, has_reference=reference is not None, best=best,  # type: ignore[arg-type]
                  detectable=detectable.difference if detectable is not None else None,
                  warning=warning, stage_names=info.stage_names)
    return StudyClaims(claims, front, reference, confirmed, level, scale, verdict, rung, detectable,
                       todo, warning, num_classes, target)


def report_rung(trials: Sequence[TrialRecord]) -> int | None:
    """The rung a multi-fidelity study's claims compare at: the highest that an architecture
    other than the reference reached (None without rungs)."""
    rungs = [t.rung for t in trials if t.rung is not None and not t.is_reference]
    return max(rungs) if rungs else None


def study_verdict(front: list[Claim], reference: Claim | None, *, confirmed: bool, level: float,
                  planned: bool = False, detectable: Detectable | None = None,
                  confirmed_claims: Sequence[Claim] = ()) -> str:
    """One plain sentence: what this study can and cannot say, and (confirmed) how large a
    difference it could have seen."""
    if not front:
        return "No architecture finished training yet."
    if reference is None:
        return ("This study has no no-attention reference, so no architecture can be called better "
                "than the plain backbone.")
    if not confirmed:
        how = ("run the same command again: it trains the front and the reference with more seeds"
               if planned else "set confirm: {seeds: 3} in the space file to train the front and the "
               "reference with more seeds")
        return ("Not confirmed: every accuracy is a single training, and a single-seed difference is "
                f"not evidence; {how}.")
    if all(c.verdict == "reference" for c in front):  # the plain backbone alone: nothing paired on it
        return _reference_alone(confirmed_claims, detectable, level)
    better = sorted((c for c in front if c.verdict == "better"),
                    key=lambda c: -(c.diff_interval[0] if c.diff_interval else 0.0))
    pct = f"{100 * level:.0f}%"
    if not better:
        n = min((c.paired_seeds for c in front if c.verdict != "reference"), default=reference.seeds)
        if detectable is not None:
            return (f"At this budget no placement on the front beats the plain backbone by more than "
                    f"the {100 * detectable.difference:.1f} points it can detect: {pct} intervals of "
                    f"the paired difference over {n} seeds all include 0, and "
                    f"{detectable.text(level)}.")
        return (f"At this budget no placement on the front beats the plain backbone beyond noise "
                f"({pct} intervals of the paired difference over {n} seeds all include 0).")
    b = better[0]
    lo, hi = (100 * v for v in b.diff_interval)  # type: ignore[union-attr]
    ratio = f" at {b.latency_ratio:.2f}x latency" if b.latency_ratio is not None else ""
    more = f"; {len(better) - 1} more front point(s) also beat it" if len(better) > 1 else ""
    can = f"; {detectable.text(level)}" if detectable is not None else ""
    return (f"{b.arch_short} beats the plain backbone by {100 * b.diff:+.1f} points "
            f"[{lo:+.1f}, {hi:+.1f}] ({pct}, {b.paired_seeds} paired seeds){ratio}{more}{can}.")


def _reference_alone(confirmed: Sequence[Claim], detectable: Detectable | None, level: float) -> str:
    """The verdict when the confirmed front is the plain backbone alone: what came closest."""
    head = ("No searched architecture reached the front: the plain backbone is as fast as any and "
            "no confirmed architecture is more accurate")
    others = sorted((c for c in confirmed if c.verdict != "reference" and c.diff is not None),
                    key=lambda c: -c.diff)  # type: ignore[arg-type, operator]
    if not others:
        return head + "."
    closest = "; ".join(
        f"#{c.number} {c.arch_short} {100 * c.diff:+.1f} points [{100 * c.diff_interval[0]:+.1f}, "  # type: ignore[operator, index]
        f"{100 * c.diff_interval[1]:+.1f}] ({c.verdict})" for c in others[:2])
    can = f"; {detectable.text(level)}" if detectable is not None else ""
    return f"{head}. The closest: {closest}{can}."


def pick_claim(study: optuna.Study, pick: str, *, claims: StudyClaims | None = None) -> Claim:
    """``knee``, ``max-accuracy``, ``fastest``, ``latency<=MS`` or ``trial=N``, chosen on the
    front the study presents (confirmed means where confirmation ran).

    Raises:
        PickError: an unknown pick, or one that matches nothing.
    """
    objectives = StudyRecord.of(study).objectives
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
