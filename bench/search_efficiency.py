"""How much of the true Pareto front each sampler finds, per trial spent.

    python -m bench.search_efficiency [--table bench/results/efficiency_table.json]

1. Evaluate every architecture of ``bench/efficiency.yaml`` (64) once at the
   default proxy budget -- through the same ``evaluate_architecture`` as the
   search -- and cache the table (resumable: rerun to continue).
2. Replay each sampler on that table for seeds 0-9: a trial's result is looked
   up instead of trained. As in ``search.run``, a trial counts when it
   evaluates a new architecture; re-proposals are free.
3. Report the median fraction of the true front's hypervolume reached after
   8, 16 and 32 evaluations. Hypervolume is in (error = 1 - accuracy,
   latency_ms), both minimised, with the reference point at the worst error
   and worst latency of the whole table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import optuna
import torch

ROOT = Path(__file__).resolve().parents[1]

from models import build_model  # noqa: E402
from runners.catalog import model_catalog  # noqa: E402
from runners.data import load_proxy_data  # noqa: E402
from runners.measure import measure_latency  # noqa: E402
from search.objective import evaluate_architecture  # noqa: E402
from search.plan import RunPlan  # noqa: E402
from search.sampling import (  # noqa: E402
    enumerate_params,
    params_to_architecture,
    reference_trials,
    suggest_architecture,
)
from search.study import make_sampler  # noqa: E402
from spaces import load_space  # noqa: E402
from studies import hypervolume_2d  # noqa: E402

SHAPE = {"in_channels": 1, "input_size": 28, "num_classes": 10}
CHECKPOINTS = (8, 16, 32)


def build_table(space, path: Path) -> dict[str, dict]:
    table = json.loads(path.read_text()) if path.exists() else {}
    cfg = space.config
    data = load_proxy_data(**cfg.dataset.model_dump(), seed=cfg.search.seed)
    archs = [params_to_architecture(space, p, **SHAPE) for p in enumerate_params(space)]
    for i, arch in enumerate(archs):
        if arch.key() in table:
            continue
        t0 = time.perf_counter()
        torch.manual_seed(cfg.search.seed)
        r = evaluate_architecture(arch, RunPlan(space, torch.device("cpu")), data)
        table[arch.key()] = {"arch": arch.short(), "accuracy": r["accuracy"],
                             "latency_ms": r["latency_ms"], "params": r["params"]}
        path.write_text(json.dumps(table, indent=1))
        print(f"[{i + 1}/{len(archs)}] {arch.short():30s} acc {r['accuracy']:.4f} "
              f"lat {r['latency_ms']:.3f} ms ({time.perf_counter() - t0:.0f} s)", flush=True)
    return table


def remeasure_latency(space, table: dict[str, dict], path: Path) -> None:
    """Re-time every row's latency (no training): for a table built on a busy machine."""
    cfg = space.config
    for p in enumerate_params(space):
        arch = params_to_architecture(space, p, **SHAPE)
        torch.manual_seed(cfg.search.seed)
        lat = measure_latency(build_model(arch), (1, 1, 28, 28), threads=cfg.latency.threads,
                              repeats=cfg.latency.repeats)
        table[arch.key()]["latency_ms"] = lat.median_ms
    path.write_text(json.dumps(table, indent=1))


def replay(space, table: dict, sampler: str, seed: int, *, baselines: bool,
           ref: tuple[float, float]) -> dict[int, float]:
    """Hypervolume reached after each checkpoint's number of distinct evaluations."""
    study = optuna.create_study(directions=space.directions,
                                sampler=make_sampler(space, name=sampler, seed=seed))
    if baselines:
        for _, params in reference_trials(space)[0]:
            study.enqueue_trial(params)
    seen: dict[str, tuple[float, float]] = {}
    out: dict[int, float] = {}
    for _ in range(2000):
        trial = study.ask()
        key = suggest_architecture(trial, space, **SHAPE).key()
        row = table[key]
        study.tell(trial, [row["accuracy"], row["latency_ms"]])
        if key not in seen:
            seen[key] = (1 - row["accuracy"], row["latency_ms"])
            if len(seen) in CHECKPOINTS:
                out[len(seen)] = hypervolume_2d(list(seen.values()), ref)
        if len(seen) >= max(CHECKPOINTS):
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=str(ROOT / "bench/results/efficiency_table.json"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--samplers", default="tpe,random,nsga2,gp")
    parser.add_argument("--remeasure-latency", action="store_true",
                        help="re-time the table's latencies (quiet machine) before replaying")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = load_space(ROOT / "bench/efficiency.yaml", catalog=model_catalog())
    table = build_table(space, Path(args.table))
    if args.remeasure_latency:
        remeasure_latency(space, table, Path(args.table))
    ref = (max(1 - r["accuracy"] for r in table.values()), max(r["latency_ms"] for r in table.values()))
    true_hv = hypervolume_2d([(1 - r["accuracy"], r["latency_ms"]) for r in table.values()], ref)
    rows = []
    for name in args.samplers.split(","):
        for baselines in (False, True):
            t0 = time.perf_counter()
            runs = [replay(space, table, name, s, baselines=baselines, ref=ref)
                    for s in range(args.seeds)]
            med = {c: statistics.median(r[c] / true_hv for r in runs) for c in CHECKPOINTS}
            label = name + (" + baselines" if baselines else "")
            rows.append((label, med, time.perf_counter() - t0))
    print(f"\ntrue front: {len(table)} architectures evaluated; reference point "
          f"(error {ref[0]:.4f}, latency {ref[1]:.3f} ms); true hypervolume {true_hv:.5f}")
    print("| sampler | HV fraction @8 | @16 | @32 | replay seconds (10 seeds) |")
    print("|---|---|---|---|---|")
    for label, med, secs in rows:
        print(f"| {label} | {med[8]:.3f} | {med[16]:.3f} | {med[32]:.3f} | {secs:.1f} |")


if __name__ == "__main__":
    main()
