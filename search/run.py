"""Search attention placement: ``python -m search.run --space attention.yaml``.

Runs (or resumes) an Optuna multi-objective study over the space, shows a
progress bar and one line per finished trial, confirms the front and the
no-attention reference with more paired seeds (``search.confirm``), then prints
the front with each point's interval and verdict against the plain backbone
(``studies.claims``) and writes ``runs/<study>/``: ``study.db``,
``dashboard.html``, ``best.yaml`` (the knee of the confirmed front),
``trials.csv`` and ``run.log``. ``search.time_budget`` bounds the whole run
(``search.budget``).

Exit codes: 0 done, 2 invalid input, 130 interrupted (what finished is kept
and the outputs are written for it).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

if __name__ == "__main__":
    # Ctrl-C during the first imports: exit 130 quietly; main() restores KeyboardInterrupt
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))

from errors import UserError  # noqa: E402  (imports nothing)
from search.interrupts import catch_interrupts  # noqa: E402  (imports only signal, threading)
from spaces import SAMPLERS, SEED_MAX, TRAIN_DEVICES, DefaultsOnce  # noqa: E402  (torch-free, like everything main() needs before run_search)

if TYPE_CHECKING:
    from search.training import Trainer


def _jobs(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or auto, got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m search.run",
        description="Search which attention module goes in which stage of a CNN.",
        formatter_class=DefaultsOnce,
    )
    p.add_argument("--space", required=True,
                   help="space file: a path, or a bundled name such as attention.yaml")
    p.add_argument("--n-trials", type=int, default=None,
                   help="total finished trials the study should hold (default: the space's search.n_trials)")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--time-budget", default=None,
                   help="wall-clock budget for search + confirmation + reports, e.g. 600, 12m, 1h "
                        "(default: the space's search.time_budget; n_trials stays a cap)")
    p.add_argument("--epochs", type=float, default=None,
                   help="proxy training epochs per trial (default: the space's budget.epochs); "
                        "like every setting of the file, part of what a resume compares")
    p.add_argument("--train-subset", type=int, default=None,
                   help="images of the proxy split, training + validation (default: the space's "
                        "dataset.train_subset); part of what a resume compares")
    p.add_argument("--study-name", default=None, help="default: the space's name")
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL (default: sqlite:///<out>/study.db)")
    p.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="default: the space's search.sampler")
    p.add_argument("--seed", type=int, default=None, help="sampler seed (default: the space's search.seed)")
    p.add_argument("--device", choices=TRAIN_DEVICES, default=None,
                   help="training device; auto: CUDA when torch sees a GPU (default: the space's "
                        "budget.device). Latency is timed where the space's latency.device says")
    p.add_argument("--jobs", type=_jobs, default=1,
                   help="worker processes sharing the study on this machine (N > 1 stores the "
                        "study in <out>/study.journal: SQLite is unsafe for parallel writers); "
                        "auto: 1 on the CPU, on CUDA as many as keep the GPU busy (measured "
                        "by a probe trial)")
    p.add_argument("--out", default=None, help="output folder (default: runs/<study-name>)")
    p.add_argument("--no-baselines", action="store_true", help="do not enqueue the reference trials")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the space, print its size and one sampled architecture, and exit")
    return p


def _flag_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the numeric flags, in one line; None when nothing is."""
    if args.jobs != "auto" and args.jobs < 1:
        return f"--jobs must be >= 1, got {args.jobs}"
    if args.seed is not None and not 0 <= args.seed <= SEED_MAX:
        return f"--seed must be in [0, {SEED_MAX}], got {args.seed}"
    if args.n_trials is not None and args.n_trials < 1:
        return f"--n-trials must be >= 1, got {args.n_trials}"
    if args.timeout is not None and not args.timeout > 0:
        return f"--timeout must be a positive number of seconds, got {args.timeout}"
    return None


def main(argv: list[str] | None = None, *, trainer: Trainer | None = None) -> int:
    """``python -m search.run``; the exit code. ``trainer``: what trains every architecture of
    the run instead of ``search.training.train_seed`` (tests and benchmarks pass a fake or a
    cache; with ``--jobs N`` it must pickle)."""
    catch_interrupts()  # KeyboardInterrupt as Python's handler raises it, and remembered
    args = build_parser().parse_args(argv)
    start = time.monotonic()
    try:  # the one boundary: a user's mistake is one line and exit 2, never a traceback
        if (problem := _flag_problem(args)) is not None:
            raise UserError(problem)
        # torch, Optuna and the models load only now: --help and flag errors answer at once
        from search.pipeline import run_search

        return run_search(args, start=start, **({} if trainer is None else {"trainer": trainer}))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _leave_interrupted() -> None:
    """Exit 130 now, without waiting for threads.

    A Ctrl-C that lands while Optuna starts a trial's heartbeat thread (RDB
    storages; ``Thread.start`` waits for the thread) raises out of the
    heartbeat's ``__enter__``, so nothing ever stops that non-daemon thread and
    the interpreter would wait for it forever. By the time this runs the study
    is committed and the outputs are written.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:  # before the study is open or after its outputs: nothing to keep
        code = 130
    if code == 130:
        _leave_interrupted()
    sys.exit(code)
