"""Trainings in a child process against the same trainings in this process; confirmation with
``--jobs 2`` against ``--jobs 1``. Both side by side in one run, on real Fashion-MNIST.

    python -m bench.isolation [--train-subset 4000] [--reps 2] [--n-trials 6] [--json PATH]

1. Per training (``runners.isolated``): the default space's budget (2 epochs, batch 128,
   augmentation) on a proxy split of ``--train-subset`` images (half training, half validation),
   three architectures (no attention, SE everywhere, ECA everywhere), each trained in this
   process and in a training child in turn (ABAB ..., ``--reps`` of each), same seed, same
   thread count. Reports the child's start (its first call, a no-op) apart, the wall-time ratio
   child / in-process of the trainings themselves, and whether the accuracies agree exactly.
2. Confirmation (``search.confirm.run_confirmation``): a short search of the same space
   (``--n-trials``, confirmation off) makes a study; copies of it are confirmed with ``jobs=1``
   (one training process, all cores' threads) and ``jobs=2`` (two processes, one thread each,
   as ``--jobs 2`` workers train), alternating, and the wall times compared. So that every run
   times the same work whatever the front is, the jobs are fixed: the reference and the three
   most accurate other architectures, 2 more seeds each (8 trainings).
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]

import search.confirm  # noqa: E402
from models import Architecture, StageChoice  # noqa: E402
from runners.catalog import model_catalog  # noqa: E402
from runners.data import load_proxy_data  # noqa: E402
from runners.isolated import TrainingPool  # noqa: E402
from runners.trainer import train_architecture  # noqa: E402
from search.confirm import ConfirmJob, run_confirmation  # noqa: E402
from search.plan import RunPlan  # noqa: E402
from search.run import main as search_main  # noqa: E402
from spaces import load_space  # noqa: E402
from studies import confirmations, default_storage, make_storage, records  # noqa: E402


def space_file(folder: Path, train_subset: int, n_trials: int, confirm: object) -> Path:
    doc = yaml.safe_load((ROOT / "spaces" / "attention.yaml").read_text())
    doc["name"] = "iso"
    doc["dataset"].update(train_subset=train_subset)
    doc["search"].update(n_trials=n_trials)
    doc["search"].pop("time_budget", None)
    doc["confirm"] = confirm
    path = folder / "iso.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def per_training(args: argparse.Namespace, folder: Path) -> dict:
    space = load_space(space_file(folder, args.train_subset, 6, False), catalog=model_catalog())
    cfg = space.config
    data = load_proxy_data(**cfg.dataset.model_dump(), seed=cfg.search.seed, progress=False)
    pool = TrainingPool(1)
    start = time.perf_counter()
    pool.call(operator.add, 1, 2)
    child_start = time.perf_counter() - start
    cpu = torch.device("cpu")
    rows = []
    for name in ("none", "se", "eca"):
        arch = Architecture.create(backbone=cfg.backbone.name,
                                   backbone_args=dict(cfg.backbone.settings()),
                                   stages=[StageChoice.create(name)] * 3, in_channels=1,
                                   input_size=28, num_classes=10)
        times: dict[str, list[float]] = {"here": [], "child": []}
        accs: dict[str, set[float]] = {"here": set(), "child": set()}
        for _ in range(args.reps):
            for where in ("here", "child"):
                t = time.perf_counter()
                if where == "here":
                    r = train_architecture(arch, data, budget=cfg.budget, seed=0, device=cpu)
                else:
                    r = pool.call(train_architecture, arch, data, budget=cfg.budget, seed=0, device=cpu)
                times[where].append(time.perf_counter() - t)
                accs[where].add(r["accuracy"])
        rows.append({"arch": name, "here_s": times["here"], "child_s": times["child"],
                     "ratio": statistics.median(times["child"]) / statistics.median(times["here"]),
                     "same_accuracy": accs["here"] == accs["child"] and len(accs["here"]) == 1})
        print(f"  {name:5s} in process {statistics.median(times['here']):6.2f} s, child "
              f"{statistics.median(times['child']):6.2f} s, ratio {rows[-1]['ratio']:.3f}, "
              f"same accuracy: {rows[-1]['same_accuracy']}", flush=True)
    pool.close()
    return {"child_start_s": child_start, "threads": torch.get_num_threads(), "rows": rows}


def confirmation(args: argparse.Namespace, folder: Path) -> dict:
    os.chdir(folder)
    path = space_file(folder, args.train_subset, args.n_trials, False)
    assert search_main(["--space", str(path), "--quiet"]) == 0
    src = folder / "runs" / "iso"
    confirmed = load_space(space_file(folder, args.train_subset, args.n_trials,
                                      {"seeds": 3, "max_architectures": 4}), catalog=model_catalog())
    cfg = confirmed.config
    data = load_proxy_data(**cfg.dataset.model_dump(), seed=cfg.search.seed, progress=False)
    fixed = _fixed_jobs(src, cfg.search.seed)
    search.confirm.confirmation_jobs = lambda study, plan: fixed  # the same 8 trainings each run
    runs = []
    for jobs in (1, 2) * args.reps:
        out = folder / f"copy{len(runs)}"
        shutil.copytree(src, out)
        study = optuna.load_study(study_name="iso", storage=make_storage(default_storage(out)))
        start = time.perf_counter()
        done, planned = run_confirmation(study, RunPlan(confirmed, torch.device("cpu"), jobs=jobs),
                                         data, log=lambda _: None)
        wall = time.perf_counter() - start
        runs.append({"jobs": jobs, "wall_s": wall, "trainings": done, "planned": planned,
                     "stored": sum(len(v) for v in confirmations(study).values())})
        print(f"  jobs {jobs}: {done} of {planned} trainings in {wall:6.1f} s", flush=True)
    one = statistics.median(r["wall_s"] for r in runs if r["jobs"] == 1)
    two = statistics.median(r["wall_s"] for r in runs if r["jobs"] == 2)
    return {"runs": runs, "speedup_jobs2": one / two}


def _fixed_jobs(out: Path, seed: int) -> list:
    study = optuna.load_study(study_name="iso", storage=make_storage(default_storage(out)))
    recs = [r for r in records(study) if r.is_original and r.accuracy is not None]
    ref = next(r for r in recs if r.is_reference)
    others = sorted((r for r in recs if not r.is_reference), key=lambda r: -r.accuracy)[:3]
    return [ConfirmJob(r, seed + k) for k in (1, 2) for r in (ref, *others)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-subset", type=int, default=4000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--n-trials", type=int, default=6)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    out_json = Path(args.json).resolve() if args.json else None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        print("per training, in this process and in a training child:", flush=True)
        result = {"machine": f"{os.cpu_count()} cores", "torch": torch.__version__,
                  "per_training": per_training(args, Path(tmp))}
        print(f"  child start {result['per_training']['child_start_s']:.2f} s (once per process)")
        print("confirmation, jobs 1 and jobs 2 on copies of one study:", flush=True)
        result["confirmation"] = confirmation(args, Path(tmp))
        print(f"  jobs 2 / jobs 1 speed-up: {result['confirmation']['speedup_jobs2']:.2f}x")
    if out_json:
        out_json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
