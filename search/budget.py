"""The run's wall-clock budget, and how it is divided between search and confirmation.

``search.time_budget`` covers the whole run: search, confirmation and the
reports. The rule, applied after every search trial:

- the next search trial starts only if the time left, less a reserve for the
  reports, covers one more trial (the median duration of the trials so far;
  with rungs, of a trial at the rung the next one trains at: a waiting
  promotion's, else rung 0) *and* the confirmation of the front as it stands now (its architectures and
  the reference, times the seeds each still needs, times the median duration
  of one training; with rungs, of one training at the top rung, where
  confirmation trains);
- confirmation then trains, reference first, seed by seed, while the time left
  covers one more training.

So the search stops early enough for its own front to be confirmed, and the
reserve grows with the front. A run overshoots by at most about one trial or
one training, when a trial takes longer than the median.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from studies import records

# writing trials.csv, the dashboard and best.yaml of a small study takes a few seconds
REPORTS_RESERVE_S = 15.0


@dataclass
class TimeBudget:
    """``seconds`` of wall-clock from ``start``; ``None`` is no budget."""

    seconds: float | None
    start: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        if self.seconds is None:
            return float("inf")
        return self.seconds - (time.monotonic() - self.start)

    def allows(self, seconds: float) -> bool:
        """Whether work of ``seconds`` still fits, leaving the reports' reserve."""
        return self.remaining() - REPORTS_RESERVE_S >= seconds


def search_stop_reason(study: optuna.Study, budget: TimeBudget, *,
                       top_ratio: Mapping[int, float] | None, seeds: Sequence[int] | None,
                       confirmations_left: Callable[[], int]) -> str | None:
    """The rule above, after a search trial: why the search must stop now, or None while one
    more trial and the confirmation of the current front still fit.

    ``top_ratio`` and ``seeds`` as in ``seconds_per_trial`` (``RunPlan.top_cost_ratio`` and
    ``RunPlan.rung_seeds``); ``confirmations_left``: the trainings confirming the current
    front still needs (``search.confirm.confirmation_jobs``), asked only under a budget.
    """
    per_trial = seconds_per_trial(study, top_ratio=top_ratio, seeds=seeds)
    if budget.seconds is None or per_trial is None:
        return None
    per_training = seconds_per_training(study, top_ratio=top_ratio)
    reserve = 0.0 if per_training is None else per_training * confirmations_left()
    if budget.allows(per_trial + reserve):
        return None
    return (f"stopping the search: {budget.remaining():.0f} s of the time budget "
            f"({budget.seconds:.0f} s) left; one more trial takes ~{per_trial:.0f} s and confirming "
            f"the current front ~{reserve:.0f} s")


def _trained(study: optuna.Study) -> list[tuple[float, int, int]]:
    """(wall seconds, trainings, rung) of every trial that trained an architecture."""
    return [(r.duration_s, r.seeds, r.at_rung) for r in records(study, states=(TrialState.COMPLETE,))
            if r.is_trained and r.duration_s is not None]


def seconds_per_trial(study: optuna.Study, *, top_ratio: Mapping[int, float] | None = None,
                      seeds: Sequence[int] | None = None) -> float | None:
    """Wall seconds of the next search trial; None before any trial has trained.

    Without rungs, the median duration of the trials that trained. With them (``top_ratio``
    as in ``seconds_per_training``, ``seeds``: trainings per trial at each rung), of a trial
    at the rung the next trial trains at -- a waiting promotion's (they run first), else
    rung 0 -- so that a promotion to the top rung is not priced at the cheap rung-0 median.
    """
    runs = _trained(study)
    if not runs:
        return None
    if top_ratio is None or seeds is None:
        return statistics.median(s for s, _, _ in runs)
    waiting = [r.at_rung for r in records(study, states=(TrialState.WAITING,))
               if r.promoted_from is not None]
    rung = waiting[0] if waiting else 0
    return _per_training_at(runs, rung, top_ratio) * seeds[rung]


def seconds_per_training(study: optuna.Study, *,
                         top_ratio: Mapping[int, float] | None = None) -> float | None:
    """Median wall seconds of one proxy training (a trial's duration over its seeds); None before any.

    With ``top_ratio`` (a multi-fidelity study: rung -> the cost of one training at the top
    rung over one at that rung, ``search.rungs.top_cost_ratio``), of one training at the top
    rung, which is what confirmation trains: the median at the highest rung that has trained,
    times its ratio. (Over all rungs the many cheap rung-0 trainings would set the median.)
    """
    runs = _trained(study)
    if runs and top_ratio is not None:
        return _per_training_at(runs, max(top_ratio), top_ratio)
    return statistics.median(s / n for s, n, _ in runs) if runs else None


def _per_training_at(runs: list[tuple[float, int, int]], rung: int,
                     top_ratio: Mapping[int, float]) -> float:
    """Seconds of one training at ``rung``: its median where it has trained, else the highest
    rung that has, scaled by the two rungs' costs."""
    at = [s / n for s, n, k in runs if k == rung]
    if at:
        return statistics.median(at)
    highest = max(k for _, _, k in runs)
    per = statistics.median(s / n for s, n, k in runs if k == highest)
    return per * top_ratio[highest] / top_ratio[rung]
