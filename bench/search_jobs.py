"""Trials per hour of a search against ``--jobs N``, each N a fresh study, side by side.

    python -m bench.search_jobs [--space attention.yaml] [--device cuda] [--jobs 1,2,4,8]
                                [--n-trials 20] [--json PATH]

For each N, ``python -m search.run`` runs the space with ``--jobs N`` in a
fresh folder, with confirmation off (it runs in the parent after the search,
one training at a time, whatever N is) and no time budget. Trials per hour
count distinct finished trials between the first trial's start and the last
one's end, read from the study itself, so the workers' start-up (an
interpreter, torch and CUDA each) is outside the rate and is reported apart
as the command's wall time. The ratio is against N = 1 of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

ROOT = Path(__file__).resolve().parents[1]

from spaces import read_yaml, resolve_space_path  # noqa: E402
from studies import TrialRecord, default_storage, make_storage  # noqa: E402


def rate(out: Path, study_name: str) -> tuple[int, float]:
    """(distinct finished trials, trials per hour) of the study in ``out``."""
    study = optuna.load_study(study_name=study_name, storage=make_storage(default_storage(out)))
    done = [t for t in study.get_trials(deepcopy=False)
            if t.datetime_complete is not None and TrialRecord.of(t).is_finished]
    if len(done) < 2:
        return len(done), float("nan")
    start = min(t.datetime_start for t in done)
    end = max(t.datetime_complete for t in done)
    return len(done), len(done) / max(1e-9, (end - start).total_seconds()) * 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="attention.yaml")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--jobs", default="1,2,4,8")
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = read_yaml(resolve_space_path(args.space), what="space file")
    space["confirm"] = False
    space.setdefault("search", {}).pop("time_budget", None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "space.yaml"
        path.write_text(yaml.safe_dump(space))
        print(f"{args.space} without confirmation, {args.n_trials} trials, training on {args.device}")
        print("| --jobs | trials | trials / hour | vs --jobs 1 | command wall s |")
        print("|---|---|---|---|---|", flush=True)
        for jobs in args.jobs.split(","):
            out = Path(tmp) / f"jobs{jobs}"
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "search.run", "--space", str(path), "--device", args.device,
                 "--jobs", jobs, "--n-trials", str(args.n_trials), "--out", str(out),
                 "--study-name", "jobs", "--quiet"],
                cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                print(f"| {jobs} | failed (exit {proc.returncode}): "
                      f"{proc.stderr.strip().splitlines()[-1:]} | | | {wall:.0f} |", flush=True)
                rows.append({"jobs": jobs, "returncode": proc.returncode, "stderr": proc.stderr[-2000:]})
                continue
            n, per_hour = rate(out, "jobs")
            log = (out / "run.log").read_text() if (out / "run.log").exists() else ""
            auto = [line for line in log.splitlines() if "--jobs auto" in line]
            rows.append({"jobs": jobs, "trials": n, "trials_per_hour": per_hour, "wall_s": wall,
                         "auto": auto[-1] if auto else None})
            base = rows[0].get("trials_per_hour", float("nan"))
            print(f"| {jobs} | {n} | {per_hour:.0f} | {per_hour / base:.2f}x | {wall:.0f} |", flush=True)
            if auto:
                print(f"  {auto[-1]}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"space": args.space, "device": args.device,
                                               "n_trials": args.n_trials, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
