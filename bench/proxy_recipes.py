"""Proxy recipes side by side at equal compute: which one ranks the 12 architectures best (issue 30).

    python bench/proxy_recipes.py [--seeds 3] [--recipes today,ema,tta,...] [--report-only]
    python bench/proxy_recipes.py --smoke     # tiny data, two architectures: checks the script

Every recipe trains the 12 architectures of ``bench/proxy_budget.py`` with the same seeds
(shared initialisation, 2 threads) on Fashion-MNIST, seed by seed, each training stored as it
ends (``bench/results/proxy_recipes_cache.json``; rerun to continue). The recipes are today's
default (2 epochs, 6,000 training and 6,000 validation images) and the levers of issue 30:

- ``ema``: ``budget.ema_decay`` 0.9 (the weights' moving average, BatchNorm statistics too);
- ``tta``: ``budget.tta_flip`` (each validation image scored with its mirror);
- ``val12k``: 12,000 validation images instead of 6,000 (the binomial floor falls by 1/sqrt 2);
- ``halves``: two 1-epoch trainings (seeds s and s + 1000) averaged instead of one 2-epoch one;
- combinations: ``ema+tta``, ``ema+val12k``, ``ema+tta+val12k``.

``bench/results/proxy_recipes.json`` is ``{recipe: {"minutes_per_training": m, "accuracies":
{arch_key: [acc per seed]}}}``. The table: minutes per training (median; equal compute means
within 10% of ``today``), the pooled single-seed std of the paired difference to no attention,
the spread (std) of the architectures' means, discriminability (spread / pooled single-seed std),
discriminability^2 per minute, and Kendall's tau of the means against the long-training truth
(``bench/long_truth.py``) with a bootstrap 95% interval over architectures. Minutes are timed:
run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from scipy.stats import kendalltau

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from proxy_budget import architectures  # noqa: E402  (beside this script)

from models import build_model  # noqa: E402
from runners.data import load_proxy_data  # noqa: E402
from runners.trainer import TrainBudget, train_proxy  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TRAIN = 6000
# name -> (budget overrides, validation images, trainings averaged per seed and their epochs)
RECIPES: dict[str, tuple[dict, int, int]] = {
    "today": ({}, 6000, 1),
    "ema": ({"ema_decay": 0.9}, 6000, 1),
    "tta": ({"tta_flip": True}, 6000, 1),
    "val12k": ({}, 12000, 1),
    "halves": ({"epochs": 1}, 6000, 2),
    "ema+tta": ({"ema_decay": 0.9, "tta_flip": True}, 6000, 1),
    "ema+val12k": ({"ema_decay": 0.9}, 12000, 1),
    "ema+tta+val12k": ({"ema_decay": 0.9, "tta_flip": True}, 12000, 1),
}


def train_recipe(arch, data, overrides: dict, parts: int, seed: int) -> dict:
    """One seed of a recipe: ``parts`` trainings (seeds s, s + 1000, ...) averaged."""
    start = time.perf_counter()
    accs, losses = [], []
    for k in range(parts):
        s = seed + 1000 * k
        r = train_proxy(build_model(arch, seed=s), data, budget=TrainBudget(**overrides), seed=s)
        accs.append(r.val_accuracy)
        losses.append(r.val_loss)
    return {"accuracy": statistics.fmean(accs), "val_loss": statistics.fmean(losses),
            "seconds": time.perf_counter() - start}


def run(recipes: list[str], archs: list, seeds: int, cache_path: Path, train: int,
        val_scale: float = 1.0) -> dict:
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    for name in recipes:
        overrides, val, parts = RECIPES[name]
        val = int(val * val_scale)
        data = load_proxy_data(name="fashion-mnist", train_subset=train + val,
                               val_fraction=val / (train + val), seed=0, progress=False)
        rows = cache.setdefault(name, {})
        for seed in range(seeds):
            for arch in archs:
                cell = rows.setdefault(arch.key(), {})
                if str(seed) in cell:
                    continue
                cell[str(seed)] = train_recipe(arch, data, overrides, parts, seed)
                cache_path.write_text(json.dumps(cache, indent=1) + "\n")
                print(f"{name:15s} seed {seed} {arch.short():40s} acc {cell[str(seed)]['accuracy']:.4f}"
                      f" ({cell[str(seed)]['seconds']:.0f} s)", flush=True)
    return cache


def summary(cache: dict, truth: dict[str, list[float]], plain_key: str) -> dict:
    """Per recipe: the figures of the module docstring's table (complete architectures only)."""
    out = {}
    for name, rows in cache.items():
        seeds = sorted({s for c in rows.values() for s in c}, key=int)
        full = {a: [c[s]["accuracy"] for s in seeds] for a, c in rows.items() if all(s in c for s in seeds)}
        if plain_key not in full or len(full) < 3 or len(seeds) < 2:
            continue
        means = {a: statistics.fmean(v) for a, v in full.items()}
        single = (sum(statistics.variance(v) for v in full.values()) / len(full)) ** 0.5
        plain = full[plain_key]
        paired = [[x - p for x, p in zip(v, plain, strict=True)] for a, v in full.items() if a != plain_key]
        paired_sd = (sum(statistics.variance(d) for d in paired) / len(paired)) ** 0.5
        spread = statistics.stdev(means.values())
        disc = spread / single if single > 0 else float("inf")
        minutes = statistics.median(c[s]["seconds"] for c in rows.values() for s in c) / 60
        common = sorted(a for a in means if a in truth)
        tau, lo, hi = float("nan"), float("nan"), float("nan")
        if len(common) > 2:
            long = {a: statistics.fmean(truth[a]) for a in common}
            tau = kendalltau([means[a] for a in common], [long[a] for a in common]).statistic
            rng = random.Random(0)
            boots = []
            for _ in range(2000):
                pick = [rng.choice(common) for _ in common]
                if len(set(pick)) > 2:
                    t = kendalltau([means[a] for a in pick], [long[a] for a in pick]).statistic
                    if t == t:
                        boots.append(t)
            boots.sort()
            lo, hi = boots[int(0.025 * len(boots))], boots[int(0.975 * len(boots)) - 1]
        out[name] = {"minutes_per_training": minutes, "architectures": len(full), "seeds": len(seeds),
                     "paired_sd": paired_sd, "single_sd": single, "spread": spread,
                     "discriminability": disc, "per_minute": disc ** 2 / minutes,
                     "tau": tau, "tau_interval": [lo, hi], "truth_architectures": len(common)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)  # one thread count for every training: it is part of the seed
    archs = architectures()
    plain_key = archs[0].key()
    if args.smoke:
        cache = run(["today", "ema+tta", "halves"], archs[:3], 2, Path("/tmp/proxy_recipes_smoke.json"),
                    train=400, val_scale=0.05)
        print(json.dumps(summary(cache, {}, plain_key), indent=1))
        return
    cache_path = RESULTS / "proxy_recipes_cache.json"
    cache = (json.loads(cache_path.read_text()) if args.report_only
             else run(args.recipes.split(","), archs, args.seeds, cache_path, train=TRAIN))
    truth_path = RESULTS / "long_truth.json"
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else {}
    table = summary(cache, truth, plain_key)
    (RESULTS / "proxy_recipes.json").write_text(json.dumps({
        name: {"minutes_per_training": statistics.median(
            c[s]["seconds"] for c in rows.values() for s in c) / 60,
            "accuracies": {a: [c[s]["accuracy"] for s in sorted(c, key=int)] for a, c in rows.items()}}
        for name, rows in cache.items()}, indent=1) + "\n")
    today = table.get("today", {}).get("minutes_per_training")
    print("| recipe | min / training (x today) | paired single-seed std | spread of means "
          "| discriminability | disc^2 / min | Kendall tau vs long truth [95%] (n) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in table.items():
        rel = f" ({r['minutes_per_training'] / today:.2f}x)" if today else ""
        print(f"| {name} | {r['minutes_per_training']:.2f}{rel} | {100 * r['paired_sd']:.2f} pt "
              f"| {100 * r['spread']:.2f} pt | {r['discriminability']:.2f} | {r['per_minute']:.1f} "
              f"| {r['tau']:.2f} [{r['tau_interval'][0]:.2f}, {r['tau_interval'][1]:.2f}] "
              f"({r['truth_architectures']}) |")


if __name__ == "__main__":
    main()
