"""One search run, end to end: load the space, open the study, run the trials, confirm the
front, write the outputs. ``search.run`` parses the command line and calls ``run_search``
(importing torch only once the flags are sound)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import optuna
from tqdm import tqdm

from reports.dashboard import rung_lines, write_dashboard
from runners.catalog import model_catalog
from runners.data import load_proxy_data
from runners.device import resolve_device
from runners.latency_profile import Profile, load_profile
from runners.onnx_runtime import OnnxUnavailable, require_onnx
from search._workers import WorkerArgs, choose_jobs, run_parallel
from search.budget import TimeBudget
from search.confirm import run_confirmation, search_stop_reason
from search.dry_run import dry_run
from search.export import export_best
from search.objective import Objective, run_trials
from search.outputs import front_table, write_trials_csv
from search.progress import RunLog, StopRule, quiet_interrupts
from search.sampling import reference_trials
from search.study import enqueue_grid, finished_count, make_sampler, open_study, random_start_note
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


def run_search(args: argparse.Namespace, *, start: float) -> int:
    """The run ``args`` (``search.run``'s flags, already checked) asks for; its exit code.

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
    n_trials = args.n_trials or cfg.search.n_trials
    objective = Objective(space, data, device=device, n_trials=n_trials)  # reads the latency profile
    profile = objective.profile
    jobs = args.jobs
    if jobs == "auto":
        jobs, why = choose_jobs(space, data, device)
        log(f"--jobs {why}")
    storage = args.storage or default_storage(out, jobs=jobs)
    seed = cfg.search.seed if args.seed is None else args.seed
    study = open_study(space, storage=storage, study_name=study_name,
                       sampler=make_sampler(space, name=args.sampler, seed=seed),
                       # a process joining a shared study draws its own sequence
                       joiner_sampler=make_sampler(space, name=args.sampler,
                                                   seed=seed + 1 + os.getpid() % 100_000),
                       baselines=not args.no_baselines)
    if sampler_info(args.sampler or cfg.search.sampler).enumerates:
        enqueue_grid(study, space, seed=seed)
    write_study(study, device=str(device), data_sizes=(len(data.train_x), len(data.val_x)),
                latency_profile=None if profile is None else profile.summary())
    done = finished_count(study)
    remaining = max(0, n_trials - done)
    if budget.seconds is not None:
        log(f"time budget {budget.seconds:.0f} s for search, confirmation and reports "
            f"({budget.remaining():.0f} s left); n_trials {n_trials} is a cap")
    log(f"study {study_name!r} ({storage}): {done} finished, {remaining} to run; "
        f"data {data.name} from {data.source}: {len(data.train_x)} train / {len(data.val_x)} val; "
        f"training on {device_why}, {latency_source(space, profile)}")
    note = random_start_note(args.sampler or cfg.search.sampler, n_trials)
    if note:
        log(note)
    if not args.no_baselines:
        refs, skipped = reference_trials(space)
        log(f"reference trials: {', '.join(label for label, _ in refs) or 'none'}"
            + (f"; skipped, outside the space (module, position or every block not allowed, or a "
               f"paper default with no number near it): {', '.join(skipped)}" if skipped else ""))

    interrupted = False
    # a multi-fidelity search whose architectures are all in may still have promotions to make
    pending = objective.promote is not None and objective.promote.pending(study)
    if (remaining or pending) and jobs > 1:
        interrupted = run_parallel(study, jobs=jobs, log=log, quiet=args.quiet, args=WorkerArgs(
            index=0, space=str(space.path), storage=storage, study_name=study_name,
            sampler=args.sampler, seed=seed,
            device=str(device), n_trials=n_trials, out=str(out), timeout=args.timeout, threads=1,
            budget_s=budget.seconds and budget.remaining(), overrides=space_overrides(args)))
    elif remaining or pending:
        bar = tqdm(total=remaining, unit="trial", disable=args.quiet, dynamic_ncols=True)
        stop = StopRule(n_trials, log, bar, space_size=space.size(),
                        stop_reason=lambda s: search_stop_reason(s, space, budget),
                        more_work=objective.promote.pending if objective.promote else None)
        try:
            # the default storage in the run's own folder is this process's alone
            run_trials(study, objective, stop=stop, timeout=args.timeout,
                       shared=args.storage is not None)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
    if not interrupted:
        try:
            run_confirmation(study, space, data, device=device, budget=budget, log=log, jobs=jobs)
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        log("interrupted: the running trial or training is lost; everything finished is kept "
            "(run the same command again to continue)")
    _write_outputs(study, out, log)
    return 130 if interrupted else 0


