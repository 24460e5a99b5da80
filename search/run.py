"""Search attention placement: ``python -m search.run --space attention.yaml``.

Runs (or resumes) an Optuna multi-objective study over the space, shows a
progress bar and one line per finished trial, then prints the Pareto front and
writes ``runs/<study>/``: ``study.db``, ``dashboard.html``, ``best.yaml`` (the
knee of the front), ``trials.csv`` and ``run.log``.

Exit codes: 0 done, 2 invalid input, 130 interrupted (what finished is kept
and the outputs are written for it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from models import build_model
from reports.dashboard import write_dashboard
from runners.data import DatasetNotFound, load_proxy_data
from runners.onnx_runtime import OnnxUnavailable, require_onnx
from runners.trainer import TrainingDiverged, seconds_per_step
from search._objective import Objective
from search._outputs import front_table, trial_line, write_trials_csv
from search._sampling import reference_trials, suggest_architecture
from search._study import (
    default_storage,
    enqueue_grid,
    finished_count,
    make_sampler,
    open_study,
)
from search.catalog import model_catalog
from search.export import export_best
from search.pareto import PickError, knee, pareto_front
from spaces import SearchSpace, SpaceError, load_space


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m search.run",
        description="Search which attention module goes in which stage of a CNN.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--space", required=True,
                   help="space file: a path, or a bundled name such as attention.yaml")
    p.add_argument("--n-trials", type=int, default=None,
                   help="total finished trials the study should hold (default: the space's search.n_trials)")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--study-name", default=None, help="default: the space's name")
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL (default: sqlite:///<out>/study.db)")
    p.add_argument("--sampler", choices=["tpe", "nsga2", "random", "grid", "gp"], default=None,
                   help="default: the space's search.sampler")
    p.add_argument("--seed", type=int, default=None, help="sampler seed (default: the space's search.seed)")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="training device (default: the space's budget.device)")
    p.add_argument("--out", default=None, help="output folder (default: runs/<study-name>)")
    p.add_argument("--no-baselines", action="store_true", help="do not enqueue the reference trials")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the space, print its size and one sampled architecture, and exit")
    return p


class _Log:
    """Per-trial lines to the terminal (above the bar) and to run.log."""

    def __init__(self, path: Path, *, quiet: bool) -> None:
        self.file = path.open("a", encoding="utf-8")
        self.quiet = quiet

    def __call__(self, line: str, *, console: bool = True) -> None:
        self.file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        self.file.flush()
        if console and not self.quiet:
            tqdm.write(line)


class _StopRule:
    """Per-trial callback: log the trial, advance the bar, and stop the study when it
    holds ``n_trials`` distinct evaluations -- or when the sampler only proposes
    duplicates (space exhausted) or trials keep failing."""

    MAX_DUPLICATES_IN_A_ROW = 25
    MAX_FAILURES_IN_A_ROW = 5

    def __init__(self, n_trials: int, log: _Log, bar: tqdm, *, space_size: int) -> None:
        self.n_trials, self.log, self.bar, self.space_size = n_trials, log, bar, space_size
        self.duplicates = self.failures = 0

    def __call__(self, study: optuna.Study, t: FrozenTrial) -> None:
        self.log(trial_line(t))
        duplicate = t.user_attrs.get("duplicate_of") is not None
        finished = t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        self.duplicates = self.duplicates + 1 if duplicate else 0
        self.failures = self.failures + 1 if t.state == TrialState.FAIL else 0
        if finished and not duplicate:
            self.bar.update(1)
        if finished_count(study) >= self.n_trials:
            study.stop()
        elif self.duplicates >= self.MAX_DUPLICATES_IN_A_ROW:
            self.log(f"stopping: the sampler proposed {self.duplicates} evaluated architectures "
                     f"in a row; the space ({self.space_size:,} architectures) looks exhausted")
            study.stop()
        elif self.failures >= self.MAX_FAILURES_IN_A_ROW:
            self.log(f"stopping: {self.failures} trials failed in a row; see the reasons above "
                     f"and in trials.csv")
            study.stop()


def _dry_run(space: SearchSpace, device: torch.device) -> int:
    cfg = space.config
    refs, skipped = reference_trials(space)
    study = optuna.create_study(directions=space.directions,
                                sampler=optuna.samplers.RandomSampler(seed=cfg.search.seed))
    # Fashion-MNIST's shape; the data itself is not read by a dry run
    shape = {"in_channels": 1, "input_size": 28, "num_classes": 10}
    arch = suggest_architecture(study.ask(), space, **shape)
    n_train = int((cfg.dataset.train_subset or 60000) * (1 - cfg.dataset.val_fraction))
    steps = max(1, int(round(cfg.budget.epochs * max(1, n_train // cfg.budget.batch_size))))
    per_step = seconds_per_step(build_model(arch), batch_size=cfg.budget.batch_size,
                                device=device, **shape)
    per_trial = steps * per_step
    print(f"space {space.path} is valid (sha256 {space.sha256[:12]}…)")
    print(f"  {space.size():,} distinct architectures over {len(space.stages)} stages")
    for s in space.stages:
        print(f"  {s.name}: {s.size()} choices — {', '.join(m.name for m in s.modules)}")
    print(f"  reference trials: {', '.join(label for label, _ in refs) or 'none'}"
          + (f" (outside the space, skipped: {', '.join(skipped)})" if skipped else ""))
    print(f"  one sampled architecture: {arch.short()}")
    print(f"  estimated training time per trial on {device}: {per_trial:.0f} s "
          f"({steps} steps x {per_step * 1e3:.0f} ms for that architecture; latency and "
          f"validation add a few seconds); {cfg.search.n_trials} trials: "
          f"~{cfg.search.n_trials * (per_trial + 2) / 60:.0f} min")
    return 0


def _write_outputs(study: optuna.Study, out: Path, log: _Log) -> None:
    front = pareto_front(study)
    knee_trial = None
    directions = ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize"
                  for d in study.directions]
    if front:
        knee_trial = knee(front, directions)
    print(front_table(front, knee_number=knee_trial.number if knee_trial else None))
    write_trials_csv(study, out / "trials.csv")
    write_dashboard(study, out / "dashboard.html")
    written = ["trials.csv", "dashboard.html"]
    try:
        export_best(study, out / "best.yaml", pick="knee")
        written.append("best.yaml")
    except PickError as e:
        log(f"best.yaml not written: {e}")
    log(f"wrote {', '.join(str(out / w) for w in written)} and {out / 'study.db'}"
        if (out / "study.db").exists() else f"wrote {', '.join(str(out / w) for w in written)}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        space = load_space(args.space, catalog=model_catalog())
    except SpaceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = space.config
    device = torch.device(args.device or cfg.budget.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda was asked for, but torch sees no CUDA device; "
              "use --device cpu", file=sys.stderr)
        return 2
    if cfg.latency.backend == "onnxruntime":
        try:
            require_onnx()
        except OnnxUnavailable as e:
            print(f"error: {space.path}: latency.backend: onnxruntime: {e}", file=sys.stderr)
            return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.dry_run:
        return _dry_run(space, device)
    study_name = args.study_name or cfg.name
    out = Path(args.out or Path("runs") / study_name)
    out.mkdir(parents=True, exist_ok=True)
    log = _Log(out / "run.log", quiet=args.quiet)
    try:
        data = load_proxy_data(name=cfg.dataset.name, root=cfg.dataset.root,
                               train_subset=cfg.dataset.train_subset,
                               val_fraction=cfg.dataset.val_fraction, seed=cfg.search.seed,
                               download=cfg.dataset.download, device=device)
    except (DatasetNotFound, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = args.storage or default_storage(out)
    try:
        study = open_study(space, storage=storage, study_name=study_name,
                           sampler=make_sampler(space, name=args.sampler, seed=args.seed),
                           baselines=not args.no_baselines)
        if (args.sampler or cfg.search.sampler) == "grid":
            enqueue_grid(study, space, seed=cfg.search.seed if args.seed is None else args.seed)
    except SpaceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    study.set_user_attr("device", str(device))
    n_trials = args.n_trials or cfg.search.n_trials
    done = finished_count(study)
    remaining = max(0, n_trials - done)
    log(f"study {study_name!r} ({storage}): {done} finished, {remaining} to run; "
        f"data {data.name} from {data.source}: {len(data.train_x)} train / {len(data.val_x)} val; "
        f"training on {device}, latency on {cfg.latency.device} with {cfg.latency.threads} thread(s)")

    bar = tqdm(total=remaining, unit="trial", disable=args.quiet or remaining == 0,
               dynamic_ncols=True)
    stop = _StopRule(n_trials, log, bar, space_size=space.size())
    interrupted = False
    try:
        if remaining:
            study.optimize(
                Objective(space, data, device=device), n_trials=None, timeout=args.timeout,
                callbacks=[stop], catch=(TrainingDiverged, torch.OutOfMemoryError),
            )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    if interrupted:
        log("interrupted: the running trial is marked failed; finished trials are kept")
    _write_outputs(study, out, log)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
