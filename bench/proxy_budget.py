"""Which proxy budget decides the most per CPU-minute?

    python -m bench.proxy_budget [--seeds 3] [--budgets default,short,long,wide]
    python -m bench.proxy_budget --smoke      # one tiny budget, two architectures: checks the script

For each budget (epochs x training images, 6,000 validation images) the
architectures below are trained with 3 seeds (shared initialisation, 2 threads,
cached per budget, architecture and seed in ``bench/results/proxy_budget.json``;
rerun to continue). Per budget it reports:

- discriminability: the std of the architectures' 3-seed means over the pooled
  single-seed std (how many noise widths the set spans);
- CPU-minutes per training (wall minutes on 2 threads, the median over its trainings);
- decisions per CPU-minute: discriminability^2 / minutes. The seeds needed to
  resolve a given gap grow as 1 / discriminability^2, so this is how much
  separation a minute of CPU buys;
- Kendall's tau between the 3-seed means and the 10-epoch, 45,000-image
  accuracies in BENCHMARKS.md ("Proxy fidelity") for the 7 architectures that
  were measured there.

The architectures: those 7 (the plain backbone, each module everywhere, and the
two front points of that study) and 5 light placements of the default space.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from models import Architecture, StageChoice, build_model  # noqa: E402
from runners.data import load_proxy_data  # noqa: E402
from runners.trainer import TrainBudget, train_proxy  # noqa: E402
from stats import kendall_tau  # noqa: E402

VAL = 6000
BUDGETS = {  # name -> (epochs, training images)
    "default": (2, 6000),
    "short": (1, 3000),
    "long": (4, 6000),
    "wide": (2, 12000),
}
# 10 epochs on 45,000 images, validation on 15,000 (BENCHMARKS.md, proxy fidelity at issue 4's budget)
LONG = {
    "none|none|none": 0.9348,
    "se(r=16)|se(r=16)|se(r=16)": 0.9340,
    "eca(k=auto)|eca(k=auto)|eca(k=auto)": 0.9352,
    "gc(ratio=0.0625,add)|gc(ratio=0.0625,add)|gc(ratio=0.0625,add)": 0.9321,
    "ca(r=32)|ca(r=32)|ca(r=32)": 0.9309,
    "se(r=4)[last]|eca(k=5)[last]|none": 0.9362,
    "gc(ratio=0.25,add)[last]|none|none": 0.9358,
}


def architectures() -> list[Architecture]:
    none = StageChoice()

    def every(name: str, **hp) -> list[StageChoice]:
        return [StageChoice.create(name, hp)] * 3

    last = {"blocks": "last"}
    stages = [
        [none] * 3, every("se"), every("eca"), every("gc"), every("ca"),
        [StageChoice.create("se", {"reduction": 4}, **last),
         StageChoice.create("eca", {"kernel_size": 5}, **last), none],
        [StageChoice.create("gc", {"ratio": 0.25}, **last), none, none],
        [StageChoice.create("se", {"reduction": 16}), none, none],
        [none, StageChoice.create("eca"), none],
        [none, none, StageChoice.create("ca", {"reduction": 32})],
        [none, none, StageChoice.create("se", {"reduction": 4}, **last)],
        [StageChoice.create("eca", {"kernel_size": 5}, **last), none, none],
    ]
    return [Architecture.create(backbone="resnet_cifar", backbone_args={"depth": 20, "width": 16},
                                stages=s, in_channels=1, input_size=28, num_classes=10) for s in stages]


def run(budgets: dict[str, tuple[float, int]], archs: list[Architecture], seeds: int, path: Path,
        val: int) -> dict:
    table = json.loads(path.read_text()) if path.exists() else {}
    for name, (epochs, n_train) in budgets.items():
        data = load_proxy_data(name="fashion-mnist", train_subset=n_train + val,
                               val_fraction=val / (n_train + val), seed=0)
        rows = table.setdefault(f"{name}:{epochs}x{n_train}", {})
        for seed in range(seeds):
            for arch in archs:
                cell = rows.setdefault(arch.short(), {})
                if str(seed) in cell:
                    continue
                t0 = time.perf_counter()
                r = train_proxy(build_model(arch, seed=seed), data, budget=TrainBudget(epochs=epochs),
                                seed=seed)
                cell[str(seed)] = {"accuracy": r.val_accuracy, "seconds": time.perf_counter() - t0}
                path.write_text(json.dumps(table, indent=1))
                print(f"{name} seed {seed} {arch.short():40s} acc {r.val_accuracy:.4f} "
                      f"({cell[str(seed)]['seconds']:.0f} s)", flush=True)
    return table


def report(table: dict) -> None:
    print("| budget | architectures | CPU-min / training | discriminability | decisions / CPU-min "
          "| Kendall tau vs 10 epochs (n) |")
    print("|---|---|---|---|---|---|")
    for budget, rows in table.items():
        full = {a: [v["accuracy"] for v in c.values()] for a, c in rows.items() if len(c) >= 2}
        if len(full) < 3:
            continue
        means = {a: statistics.fmean(v) for a, v in full.items()}
        sd = (sum(statistics.variance(v) for v in full.values()) / len(full)) ** 0.5
        disc = statistics.stdev(means.values()) / sd if sd > 0 else float("inf")
        # the median: a training slowed by other work on the shared machine does not move it
        minutes = statistics.median(v["seconds"] for c in rows.values() for v in c.values()) / 60
        common = [a for a in LONG if a in means]
        tau = kendall_tau([means[a] for a in common], [LONG[a] for a in common]) \
            if len(common) > 2 else float("nan")
        print(f"| {budget} | {len(full)} | {minutes:.2f} | {disc:.2f} | {disc ** 2 / minutes:.1f} "
              f"| {tau:.2f} ({len(common)}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budgets", default=",".join(BUDGETS))
    parser.add_argument("--table", default=str(ROOT / "bench/results/proxy_budget.json"))
    parser.add_argument("--smoke", action="store_true", help="a tiny budget and two architectures")
    args = parser.parse_args()
    torch.set_num_threads(2)  # one thread count for every training: it is part of the seed
    if args.smoke:
        table = run({"smoke": (0.2, 500)}, architectures()[:3], 2, Path("/tmp/proxy_budget_smoke.json"),
                    val=500)
    else:
        table = run({b: BUDGETS[b] for b in args.budgets.split(",")}, architectures(), args.seeds,
                    Path(args.table), val=VAL)
    report(table)


if __name__ == "__main__":
    main()
