"""Progress of a search: per-trial lines (terminal and run.log) and when to stop."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from search.outputs import trial_line
from search.study import finished_count
from studies import TrialRecord, latency_scale_ms


class _NoInterruptTraceback(logging.Filter):
    """Drops the warning that carries a KeyboardInterrupt and the "failed with value None" after it."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and caused_by_interrupt(record.exc_info[1]):
            self.interrupted = True
            return False
        if self.interrupted and "failed with value None" in record.getMessage():
            self.interrupted = False
            return False
        return True


def caused_by_interrupt(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a KeyboardInterrupt or was raised while handling one (SQLAlchemy's
    "Error closing cursor" when Ctrl-C lands inside a fetch)."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__context__
    return False


def release_interrupted() -> None:
    """Free what a Ctrl-C left half done, before the next read or write of the study.

    The interrupt's traceback holds the frames it stopped (in reference cycles), and with them
    any SQLite connection it caught inside a query or a commit: that connection keeps the
    database's lock until it is collected, so every later statement waits for the lock's
    timeout (``studies.storage.SQLITE_LOCK_TIMEOUT_S``) and then fails with "database is
    locked" -- seen in CI as a Ctrl-C that took over a minute to exit. Call it after the
    ``except`` block, when the exception is no longer referenced.
    """
    gc.collect()


def quiet_interrupts() -> None:
    """Ctrl-C is a request, not an error: drop Optuna's "Trial N failed ..." warning with the
    KeyboardInterrupt traceback (our own line says the trial was interrupted), and any record
    that reaches no handler of its own (``logging.lastResort``: SQLAlchemy's pool logs "Error
    closing cursor" there) whose exception came from the interrupt."""
    for emitter in (logging.getLogger("optuna.study._optimize"), logging.lastResort):
        if emitter is not None and not any(isinstance(f, _NoInterruptTraceback)
                                           for f in emitter.filters):
            emitter.addFilter(_NoInterruptTraceback())


class RunLog:
    """Per-trial lines to the terminal (above the bar) and to run.log."""

    def __init__(self, path: Path, *, quiet: bool, prefix: str = "") -> None:
        self.file = path.open("a", encoding="utf-8")
        self.quiet = quiet
        self.prefix = prefix

    def __call__(self, line: str, *, console: bool = True) -> None:
        line = self.prefix + line
        self.file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        self.file.flush()
        if console and not self.quiet:
            tqdm.write(line)


class StopRule:
    """Per-trial callback: log the trial, advance the bar, and stop the study when it
    holds ``n_trials`` distinct evaluations -- or when the sampler only proposes
    duplicates (space exhausted) or trials keep failing."""

    MAX_DUPLICATES_IN_A_ROW = 25
    MAX_FAILURES_IN_A_ROW = 5

    def __init__(self, n_trials: int, log: RunLog, bar: tqdm | None, *, space_size: int,
                 stop_reason: Callable[[optuna.Study], str | None] | None = None,
                 more_work: Callable[[optuna.Study], bool] | None = None) -> None:
        self.n_trials, self.log, self.bar, self.space_size = n_trials, log, bar, space_size
        self.stop_reason = stop_reason  # e.g. the time budget's rule (search.confirm)
        # work beyond n_trials that the search must still do (promotions between rungs)
        self.more_work = more_work
        self.duplicates = self.failures = 0
        self.stopped_by: str | None = None
        self.scale: float | None = None  # the study's latency scale, fixed once known

    def __call__(self, study: optuna.Study, t: FrozenTrial) -> None:
        if self.scale is None and (scale := latency_scale_ms(study)) is not None:
            self.scale = scale
            self.log(f"latency: ms shown = latency ratio x {scale:.3f} ms, the plain backbone as timed "
                     "beside the study's first timed trial (every report uses this scale; "
                     "trials.csv keeps each timing as latency_ms_measured)")
        self.log(trial_line(t, self.scale))
        duplicate = TrialRecord.of(t).is_duplicate
        finished = t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        self.duplicates = self.duplicates + 1 if duplicate else 0
        self.failures = self.failures + 1 if t.state == TrialState.FAIL else 0
        if finished and not duplicate and not TrialRecord.of(t).rung and self.bar is not None:
            self.bar.update(1)
        full = finished_count(study) >= self.n_trials
        if full and (self.more_work is None or not self.more_work(study)):
            study.stop()
        elif not full and self.duplicates >= self.MAX_DUPLICATES_IN_A_ROW:
            self.log(f"stopping: the sampler proposed {self.duplicates} evaluated architectures "
                     f"in a row; the space ({self.space_size:,} architectures) looks exhausted")
            study.stop()
        elif self.failures >= self.MAX_FAILURES_IN_A_ROW:
            self.log(f"stopping: {self.failures} trials failed in a row; see the reasons above "
                     f"and in trials.csv")
            study.stop()
        elif self.stop_reason is not None and (reason := self.stop_reason(study)) is not None:
            self.stopped_by = reason
            self.log(reason)
            study.stop()
