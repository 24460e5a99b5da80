"""The run's wall-clock budget, and how it is divided between search and confirmation.

``search.time_budget`` covers the whole run: search, confirmation and the
reports. The rule, applied after every search trial:

- the next search trial starts only if the time left, less a reserve for the
  reports, covers one more trial (the median duration of the trials so far)
  *and* the confirmation of the front as it stands now (its architectures and
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
from collections.abc import Mapping
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


def _trained(study: optuna.Study) -> list[tuple[float, int, int]]:
    """(wall seconds, trainings, rung) of every trial that trained an architecture."""
    return [(r.duration_s, r.seeds, r.at_rung) for r in records(study, states=(TrialState.COMPLETE,))
            if r.is_trained and r.duration_s is not None]


def seconds_per_trial(study: optuna.Study) -> float | None:
    """Median wall seconds of a search trial that trained; None before any."""
    runs = _trained(study)
    return statistics.median(s for s, _, _ in runs) if runs else None


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
        highest = max(k for _, _, k in runs)
        return statistics.median(s / n for s, n, k in runs if k == highest) * top_ratio[highest]
    return statistics.median(s / n for s, n, _ in runs) if runs else None
