"""One search run, end to end: load the space, open the study, run the trials, confirm the
front, write the outputs. ``search.run`` parses the command line and calls ``run_search``
(importing torch only once the flags are sound)."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

import optuna
from tqdm import tqdm

from reports.dashboard import rung_lines, write_dashboard
from runners.catalog import model_catalog
from runners.data import load_proxy_data
from runners.device import resolve_device
from runners.latency_profile import Profile, load_profile
from runners.onnx_runtime import OnnxUnavailable, require_onnx
from search import interrupts
from search._workers import choose_jobs, run_parallel, work
from search.budget import TimeBudget
from search.confirm import run_confirmation
from search.dry_run import dry_run
from search.export import export_best
from search.objective import Objective
from search.outputs import front_table, write_trials_csv
from search.plan import RunPlan
from search.progress import RunLog, quiet_interrupts, release_interrupted
from search.sampling import reference_trials
from search.study import enqueue_grid, finished_count, make_sampler, open_study, random_start_note
from search.training import Trainer, train_seed
from spaces import SearchSpace, SpaceError, load_space, parse_duration, sampler_info
from studies import (
    PickError,
    TrialRecord,
    default_storage,
    study_claims,
    write_study,
)


def space_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The space settings the flags replace, by dotted key (``spaces.load_space``'s overrides)."""
    given = {"budget.epochs": args.epochs, "dataset.train_subset": args.train_subset}
    return {k: v for k, v in given.items() if v is not None}


def cfg_time_budget(space: SearchSpace, flag: str | None) -> float | None:
    """Seconds of the run's time budget: ``--time-budget`` or the space's ``search.time_budget``.

    Raises:
        SpaceError: a flag value that is not a positive duration.
    """
    if flag is None:
        return space.config.search.time_budget
    try:
        seconds = float(parse_duration(flag))
    except (ValueError, TypeError):
        seconds = float("nan")
    if not seconds > 0:
        raise SpaceError(f"--time-budget: expected a positive duration such as 600, 600s, 12m or "
                         f"1.5h; got {flag!r}")
    return seconds


def latency_source(space: SearchSpace, profile: Profile | None) -> str:
    """Where the study's latencies come from, for the run's header."""
    lat = space.config.latency
    timed = f"latency on {lat.device} with {lat.threads} thread(s)"
    if profile is None:
        return timed
    predicted = (f"latency predicted for {profile.device} from {profile.path} "
                 f"({profile.check_text()})")
    return predicted if lat.backend == "profile" else f"{timed}; also {predicted}"


def _write_outputs(study: optuna.Study, out: Path, log: RunLog) -> None:
    claims = study_claims(study)  # once: every output presents the same claims
    if claims.latency_scale_ms is not None:
        write_study(study, latency_scale_ms=claims.latency_scale_ms)
    write_trials_csv(study, out / "trials.csv", claims=claims)
    write_dashboard(study, out / "dashboard.html", claims=claims)
    written = ["trials.csv", "dashboard.html"]
    try:
        knee_trial: TrialRecord | None = export_best(study, out / "best.yaml", pick="knee", claims=claims)
        written.append("best.yaml")
    except PickError as e:
        knee_trial = None
        log(f"best.yaml not written: {e}")
    print(front_table(claims, knee_number=knee_trial.number if knee_trial else None))
    for line in rung_lines(study):
        print(line)
    log(f"wrote {', '.join(str(out / w) for w in written)}")


def run_search(args: argparse.Namespace, *, start: float, trainer: Trainer = train_seed) -> int:
    """The run ``args`` (``search.run``'s flags, already checked) asks for; its exit code.
    ``trainer``: every training of the run (``search.training``; a test's fake).

    Raises:
        UserError: a space, device, dataset, latency profile or storage that cannot be used
            (``search.run.main`` prints it and exits 2); what finished before is in the study.
    """
    space = load_space(args.space, catalog=model_catalog(), overrides=space_overrides(args))
    if args.epochs is not None and space.config.fidelity is not None:
        raise SpaceError(f"--epochs: {space.path} is a multi-fidelity space, whose trainings take "
                         "their epochs from fidelity.rungs, not budget.epochs; copy the file and "
                         "edit the rungs")
    budget = TimeBudget(cfg_time_budget(space, args.time_budget), start=start)
    cfg = space.config
    device, device_why = resolve_device(args.device or cfg.budget.device)
    if cfg.latency.backend == "onnxruntime":
        try:
            require_onnx()
        except OnnxUnavailable as e:
            raise OnnxUnavailable(f"{space.path}: latency.backend: onnxruntime: {e}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quiet_interrupts()
    if args.dry_run:
        profile = None if cfg.latency.profile is None else load_profile(cfg.latency.profile)
        return dry_run(space, device, budget.seconds,
                       None if profile is None else latency_source(space, profile))
    study_name = args.study_name or cfg.name
    out = Path(args.out or Path("runs") / study_name)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out / "run.log", quiet=args.quiet)
    data = load_proxy_data(**cfg.dataset.model_dump(), seed=cfg.search.seed, device=device,
                           progress=not args.quiet)
    if cfg.budget.tta_flip and not data.flip:
        raise SpaceError(f"{space.path}: budget.tta_flip: {data.name} does not allow horizontal flips "
                         "(dataset.flip is false); set tta_flip: false or dataset.flip: true")
    plan = RunPlan(space=space, device=device, train=trainer,
                   n_trials=args.n_trials or cfg.search.n_trials, budget=budget,
                   study_name=study_name, out=out, sampler=args.sampler, seed=args.seed,
                   timeout=args.timeout, shared=args.storage is not None, quiet=args.quiet,
                   # the space's search.baselines, unless --no-baselines turns them off
                   baselines=cfg.search.baselines and not args.no_baselines)
    jobs = args.jobs
    if jobs == "auto":
        jobs, why = choose_jobs(plan, data)  # a probe trial, with the plan's trainer
        log(f"--jobs {why}")
    plan = replace(plan, jobs=jobs, storage=args.storage or default_storage(out, jobs=jobs))
    objective = Objective(plan, data)  # reads the latency profile
    study = _open(plan, data, objective.profile)
    remaining, pending = _describe(plan, study, data, objective, log, device_why)

    interrupted = False
    if remaining or pending:
        interrupted = _search(plan, study, objective, log, remaining)
    if not (interrupted or interrupts.requested()):
        try:
            run_confirmation(study, plan, data, log=log)
        except KeyboardInterrupt:
            interrupted = True
    # a Ctrl-C whose KeyboardInterrupt a finalizer swallowed after the last check: still 130
    interrupted = interrupted or interrupts.requested()
    if interrupted:
        release_interrupted()
        log("interrupted: the running trial or training is lost; everything finished is kept "
            "(run the same command again to continue)")
    _write_outputs(study, out, log)
    return 130 if interrupted else 0


def _open(plan: RunPlan, data, profile: Profile | None) -> optuna.Study:
    """The plan's study, opened (or resumed) with its sampler, grid and reference trials."""
    space, seed = plan.space, plan.sampler_seed
    study = open_study(space, storage=plan.storage, study_name=plan.study_name,
                       sampler=make_sampler(space, name=plan.sampler, seed=seed),
                       # a process joining a shared study draws its own sequence
                       joiner_sampler=make_sampler(space, name=plan.sampler,
                                                   seed=seed + 1 + os.getpid() % 100_000),
                       baselines=plan.baselines)
    if sampler_info(plan.sampler_name).enumerates:
        enqueue_grid(study, space, seed=seed)
    write_study(study, device=str(plan.device), data_sizes=(len(data.train_x), len(data.val_x)),
                latency_profile=None if profile is None else profile.summary())
    return study


def _describe(plan: RunPlan, study: optuna.Study, data, objective: Objective, log: RunLog,
              device_why: str) -> tuple[int, bool]:
    """Log what the run will do; the trials left to run, and whether promotions are waiting."""
    assert plan.n_trials is not None
    done = finished_count(study)
    remaining = max(0, plan.n_trials - done)
    budget = plan.budget
    if budget.seconds is not None:
        log(f"time budget {budget.seconds:.0f} s for search, confirmation and reports "
            f"({budget.remaining():.0f} s left); n_trials {plan.n_trials} is a cap")
    log(f"study {plan.study_name!r} ({plan.storage}): {done} finished, {remaining} to run; "
        f"data {data.name} from {data.source}: {len(data.train_x)} train / {len(data.val_x)} val; "
        f"training on {device_why}, {latency_source(plan.space, objective.profile)}")
    note = random_start_note(plan.sampler_name, plan.n_trials)
    if note:
        log(note)
    if plan.baselines:
        refs, skipped = reference_trials(plan.space)
        log(f"reference trials: {', '.join(label for label, _ in refs) or 'none'}"
            + (f"; skipped, outside the space (module, position or every block not allowed, or a "
               f"paper default with no number near it): {', '.join(skipped)}" if skipped else ""))
    # a multi-fidelity search whose architectures are all in may still have promotions to make
    pending = objective.promote is not None and objective.promote.pending(study)
    return remaining, pending


def _search(plan: RunPlan, study: optuna.Study, objective: Objective, log: RunLog,
            remaining: int) -> bool:
    """The search's trials, in this process or ``plan.jobs`` workers; True when interrupted."""
    if plan.jobs > 1:
        return run_parallel(study, plan, log=log)
    bar = tqdm(total=remaining, unit="trial", disable=plan.quiet, dynamic_ncols=True)
    try:
        # the default storage in the run's own folder is this process's alone
        work(study, objective, log=log, bar=bar, shared=plan.shared)
    except KeyboardInterrupt:
        return True
    finally:
        bar.close()
    return False
