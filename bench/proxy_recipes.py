"""Proxy recipes side by side at equal compute: which one ranks the 12 architectures best (issue 30).

    python -m bench.proxy_recipes [--seeds 3]        # the trainings (accuracies; may run beside work)
    python -m bench.proxy_recipes --time             # each recipe alone, timed: on a quiet machine
    python -m bench.proxy_recipes --report-only      # the JSON and the table from what is stored
    python -m bench.proxy_recipes --smoke            # tiny data, three architectures: checks the script

The levers of issue 30 that change only how a training is *scored* are read off one training,
so that every recipe below sees the same trainings (a paired comparison of recipes, and a
fraction of the compute): each architecture x seed is trained once with today's budget on
today's 6,000 training images (shared initialisation, 2 threads), while averages of its weights
are kept beside it: moving averages with decay 0.9 and 0.95 per step (``runners.trainer.
weight_average``, BatchNorm statistics averaged too), and a 0.98 moving average and an equal
average over the last half of the steps (SWA) whose BatchNorm statistics are recomputed after
training (``recompute_batchnorm``). The last weights and the averages are scored on today's 6,000
validation images and on 6,000 more from the rest of the training files (disjoint from both),
each image alone and with its mirror. A recipe is one such view:

- ``today``: the last weights, 6,000 validation images, accuracy;
- ``ema0.9`` / ``ema0.95``: the moving average instead (``budget.ema_decay``);
- ``ema0.98+bn`` / ``swa50+bn``: the averages with BatchNorm recomputed;
- ``tta``: each image scored with its mirror (``budget.tta_flip``);
- ``val12k``: 12,000 validation images (the binomial floor falls by 1/sqrt 2);
- their combinations, e.g. ``ema0.98+bn+tta+val12k``;
- ``loss...``: ranked by the validation loss instead of the accuracy (the same view);
- ``sotl``: ranked by the sum of the epochs' mean training losses (no validation at all);
- ``halves...``: two 1-epoch trainings (seeds s and s + 1000) averaged instead of one 2-epoch one.

The trainings are cached as they end (``bench/results/proxy_recipes_trainings.json``; rerun to
continue). ``--time`` times the parts a recipe is made of as ``train_proxy`` runs them (the
training loop for 2 and 1 epochs, with and without a weight average's per-step update, the
BatchNorm recompute, evaluation on 6,000 and 12,000 images alone and with the mirror) on three
architectures (the plain one, a light and the heaviest) and stores them beside the trainings;
a recipe's minutes are the sum of its parts (the phases run one after another).

``bench/results/proxy_recipes.json`` is ``{recipe: {"minutes_per_training": m, "accuracies":
{arch_key: [acc per seed]}}}`` (plus ``"score"``: what ranks, and ``"scores"`` where it is not the
accuracy). The table: minutes per training and the ratio to ``today`` (equal compute: within
10%), the pooled single-seed std of the paired difference to no attention, the spread (std) of
the architectures' means, discriminability (spread / pooled single-seed std), discriminability^2
per minute, and Kendall's tau of the means against the long-training truth
(``bench/long_truth.py``) with a bootstrap 95% interval over architectures.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

ROOT = Path(__file__).resolve().parents[1]

from bench.proxy_budget import architectures  # noqa: E402
from bench.ranking import ranking_figures, tau_with_interval  # noqa: E402
from models import build_model  # noqa: E402
from runners.data import ProxyData, load_proxy_data  # noqa: E402
from runners.data.proxy import load_split, stratified_split  # noqa: E402
from runners.trainer import (  # noqa: E402
    TrainBudget,
    log_probs,
    recompute_batchnorm,
    score,
    train_proxy,
    weight_average,
)

RESULTS = ROOT / "bench" / "results"
# the weight averages read off each full training: per-step EMAs of weights and BatchNorm
# statistics (budget.ema_decay), and averages whose BatchNorm statistics are recomputed
# (recompute_batchnorm): an EMA, and the uniform average of the last half of the steps (SWA)
DECAYS = (0.9, 0.95)
AVERAGES = (*(f"ema{d:g}" for d in DECAYS), "ema0.98+bn", "swa50+bn")
TRAIN = 6000  # today's proxy: 12,000 images, half of them validation


def load_data(train: int, val: int, extra: int) -> tuple[ProxyData, torch.Tensor, torch.Tensor]:
    """Today's proxy data (``train`` + ``val`` images, as a search draws them) and ``extra`` more
    validation images from the rest of the training files (stratified, disjoint from both)."""
    data = load_proxy_data(name="fashion-mnist", train_subset=train + val,
                           val_fraction=val / (train + val), seed=0, progress=False)
    images, labels, _ = load_split("fashion-mnist", root=None, split="train", download=False)
    _, used = stratified_split(labels, (train + val) / len(labels), seed=0)  # as load_proxy_data
    rest = torch.ones(len(labels), dtype=torch.bool)
    rest[used] = False
    rest = torch.nonzero(rest).flatten()
    _, pick = stratified_split(labels[rest], extra / len(rest), seed=2)
    return data, images[rest[pick]].contiguous(), labels[rest[pick]].contiguous()


def views(model, data: ProxyData, extra_x, extra_y) -> dict[str, list[float]]:
    """``{"6k" | "12k" [+ "+tta"]: [accuracy, loss]}`` of one model."""
    x = torch.cat([data.val_x, extra_x])
    y = torch.cat([data.val_y, extra_y])
    lp = log_probs(model, x, data)
    mirrored = log_probs(model, x.flip(-1), data)
    both = torch.logsumexp(torch.stack([lp, mirrored]), dim=0) - math.log(2)
    n = len(data.val_x)
    out = {}
    for name, p in (("", lp), ("+tta", both)):
        out["6k" + name] = list(score(p[:n], y[:n]))
        out["12k" + name] = list(score(p, y))
    return out


def train_once(arch, data: ProxyData, extra_x, extra_y, *, epochs: float, seed: int,
               averages: bool) -> dict:
    """One training with today's budget (``epochs`` of it) and every view of it (of its last
    weights, and with ``averages`` of each of ``AVERAGES``)."""
    start = time.perf_counter()
    model = build_model(arch, seed=seed)
    kept = ({**{f"ema{d:g}": weight_average(model, d) for d in DECAYS},
             "ema0.98+bn": AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.98)),
             "swa50+bn": AveragedModel(model)} if averages else {})
    half = TrainBudget(epochs=epochs).steps(len(data.train_x)) // 2
    losses: list[float] = []
    steps = [0]

    def step(m) -> None:
        steps[0] += 1
        for name, a in kept.items():
            if name != "swa50+bn" or steps[0] > half:
                a.update_parameters(m)

    r = train_proxy(model, data, budget=TrainBudget(epochs=epochs), seed=seed,
                    on_epoch=lambda _e, _n, loss: losses.append(loss), on_step=step)
    out = {"today": [r.val_accuracy, r.val_loss], "train_losses": losses,
           "last": views(model, data, extra_x, extra_y)}
    for name, a in kept.items():
        if name.endswith("+bn"):
            recompute_batchnorm(a.module, data)
        out[name] = views(a.module, data, extra_x, extra_y)
    out["seconds"] = time.perf_counter() - start
    return out


def run(archs: list, seeds: int, cache_path: Path, *, train: int, val: int) -> dict:
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    data, extra_x, extra_y = load_data(train, val, val)
    for seed in range(seeds):
        for kind, epochs, parts in (("full", 2.0, (0,)), ("halves", 1.0, (0, 1000))):
            for arch in archs:
                cell = cache.setdefault(kind, {}).setdefault(arch.key(), {})
                for part in parts:
                    s = str(seed + part)
                    if s in cell:
                        continue
                    cell[s] = train_once(arch, data, extra_x, extra_y, epochs=epochs, seed=seed + part,
                                         averages=kind == "full")
                    # the views must not change the training: the last weights on today's
                    # validation split are what train_proxy scored
                    assert cell[s]["last"]["6k"][0] == cell[s]["today"][0], (arch.short(), s)
                    cache_path.write_text(json.dumps(cache, indent=1) + "\n")
                    print(f"{kind:6s} seed {s:>4s} {arch.short():40s} acc {cell[s]['today'][0]:.4f} "
                          + "".join(f"{m} {cell[s][m]['6k'][0]:.4f} " for m in AVERAGES if m in cell[s])
                          + f"({cell[s]['seconds']:.0f} s)", flush=True)
    return cache


# recipe -> (trainings, model, view, score); score "acc" | "loss" | "sotl"
RECIPES: dict[str, tuple[str, str, str, str]] = {}
for _m in ("last", *AVERAGES):
    for _v, _suffix in (("6k", ""), ("6k+tta", "tta"), ("12k", "val12k"), ("12k+tta", "tta+val12k")):
        _name = "+".join(p for p in ("" if _m == "last" else _m, _suffix) if p) or "today"
        RECIPES[_name] = ("full", _m, _v, "acc")
RECIPES.update({
    "loss": ("full", "last", "6k", "loss"), "loss+tta+val12k": ("full", "last", "12k+tta", "loss"),
    "swa50+bn+loss+tta+val12k": ("full", "swa50+bn", "12k+tta", "loss"),
    "sotl": ("full", "last", "", "sotl"),
    "halves": ("halves", "last", "6k", "acc"), "halves+tta+val12k": ("halves", "last", "12k+tta", "acc"),
})


def cost_of(name: str) -> dict[str, float]:
    """What ``name`` runs in a search, as multiples of the timed components (``time_recipes``)."""
    kind, model, view, how = RECIPES[name]
    parts = 2.0 if kind == "halves" else 1.0
    train = ("train_1ep" if kind == "halves" else "train") + ("" if model == "last" else "_avg")
    out = {train: parts}
    if model.endswith("+bn"):
        out["bn"] = parts
    if how != "sotl":  # the sum of training losses needs no validation
        out["eval_" + view] = parts
    return out


def value(cell: dict, model: str, view: str, how: str) -> float:
    """One training's score: higher is better (a loss is negated)."""
    if how == "sotl":
        return -sum(cell["train_losses"])
    acc, loss = cell[model][view]
    return acc if how == "acc" else -loss


def per_seed(cache: dict, name: str) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``(scores, accuracies)``: ``arch_key -> [per seed]`` for the seeds every architecture has."""
    kind, model, view, how = RECIPES[name]
    rows = cache.get(kind, {})
    parts = (0, 1000) if kind == "halves" else (0,)
    seeds = sorted({int(s) for c in rows.values() for s in c if int(s) < 1000})
    seeds = [s for s in seeds if all(str(s + p) in c for c in rows.values() for p in parts)]
    scores, accs = {}, {}
    for a, c in rows.items():
        scores[a] = [statistics.fmean(value(c[str(s + p)], model, view, how) for p in parts) for s in seeds]
        accs[a] = [statistics.fmean(value(c[str(s + p)], model, view or "6k", "acc") for p in parts)
                   for s in seeds]
    return scores, accs


def time_recipes(archs: list, cache: dict, cache_path: Path, *, train: int, rounds: int = 3) -> None:
    """Time the components every recipe is made of, as ``train_proxy`` runs them, on ``archs``
    (seed 0), ``rounds`` times, on a quiet machine: the training loop for 2 and 1 epochs, with a
    weight average kept (its per-step update), the BatchNorm recompute, and evaluation on 6,000
    and 12,000 images, alone and with the mirror. Stored in ``cache["timing"]`` (arch -> [per round])."""
    timing = cache.setdefault("timing", {})
    data, extra_x, extra_y = load_data(train, 6000, 6000)
    big = replace(data, val_x=torch.cat([data.val_x, extra_x]), val_y=torch.cat([data.val_y, extra_y]))
    for rnd in range(rounds):  # rounds interleaved over the architectures: drift hits all alike
        for arch in archs:
            runs = timing.setdefault(arch.key(), [])
            if len(runs) > rnd:
                continue
            cell = {}
            for name, budget in (("train", {}), ("train_avg", {"ema_decay": 0.9}),
                                 ("train_1ep", {"epochs": 1.0})):
                model = build_model(arch, seed=0)
                cell[name] = train_proxy(model, data, budget=TrainBudget(**budget), seed=0).train_seconds
            cell["train_1ep_avg"] = cell["train_1ep"] * cell["train_avg"] / cell["train"]
            start = time.perf_counter()
            recompute_batchnorm(model, data)
            cell["bn"] = time.perf_counter() - start
            for view, d in (("6k", data), ("12k", big)):
                for suffix, flip in (("", False), ("+tta", True)):
                    start = time.perf_counter()
                    score(log_probs(model, d.val_x, d, tta_flip=flip), d.val_y)
                    cell[f"eval_{view}{suffix}"] = time.perf_counter() - start
            runs.append(cell)
            cache_path.write_text(json.dumps(cache, indent=1) + "\n")
            print(f"timed {rnd} {arch.short():40s} " + " ".join(f"{k} {v:.1f}" for k, v in cell.items()),
                  flush=True)


def minutes(cache: dict, name: str) -> float | None:
    """Minutes per training of ``name``: the sum of its components (each the median over the
    rounds), averaged over the timed architectures."""
    timing = {a: runs for a, runs in cache.get("timing", {}).items() if isinstance(runs, list) and runs}
    if not timing:
        return None
    cost = cost_of(name)
    return statistics.fmean(sum(statistics.median(r[k] for r in runs) * n for k, n in cost.items())
                            for runs in timing.values()) / 60


def summary(cache: dict, truth: dict[str, list[float]], plain_key: str) -> dict:
    """Per recipe: the figures of the module docstring's table (complete seeds only)."""
    out = {}
    for name in RECIPES:
        scores, _ = per_seed(cache, name)
        if plain_key not in scores or len(scores) < 3 or len(scores[plain_key]) < 2:
            continue
        figures = ranking_figures(scores, plain_key)
        means = {a: statistics.fmean(v) for a, v in scores.items()}
        m = minutes(cache, name)
        tau, lo, hi, n = tau_with_interval(means, truth)
        out[name] = {"minutes_per_training": m, "architectures": len(scores), "seeds": len(scores[plain_key]),
                     "score": RECIPES[name][3], **figures,
                     "per_minute": figures["discriminability"] ** 2 / m if m else None,
                     "tau": tau, "tau_interval": [lo, hi], "truth_architectures": n}
    return out


def table(rows: dict, default: str | None) -> str:
    today = rows.get("today", {}).get("minutes_per_training")
    lines = ["| recipe | score | min / training (x today) | paired single-seed std | spread of means "
             "| discriminability | disc^2 / min | Kendall tau vs long truth [95%] (n) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        unit = (lambda v: f"{100 * v:.2f} pt") if r["score"] == "acc" else (lambda v: f"{v:.4f}")
        m = r["minutes_per_training"]
        cost = f"{m:.2f} ({m / today:.2f}x)" if m and today else "-"
        tau = (f"{r['tau']:.2f} [{r['tau_interval'][0]:.2f}, {r['tau_interval'][1]:.2f}] "
               f"({r['truth_architectures']})" if r["tau"] == r["tau"] else f"- ({r['truth_architectures']})")
        mark = " (default)" if name == default else ""
        per_minute = "-" if r["per_minute"] is None else f"{r['per_minute']:.1f}"
        lines.append(f"| {name}{mark} | {r['score']} | {cost} | {unit(r['paired_sd'])} | {unit(r['spread'])} "
                     f"| {r['discriminability']:.2f} | {per_minute} | {tau} |")
    return "\n".join(lines)


def write_json(cache: dict, path: Path, default: str | None) -> None:
    out = {}
    for name in RECIPES:
        scores, accs = per_seed(cache, name)
        if not scores:
            continue
        entry = {"minutes_per_training": minutes(cache, name), "score": RECIPES[name][3], "accuracies": accs}
        if RECIPES[name][3] != "acc":
            entry["scores"] = scores
        out[name] = entry
        if name == default:
            out["default"] = {**entry, "recipe": name}
    path.write_text(json.dumps(out, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time", action="store_true", help="time each recipe alone (quiet machine)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--default", default=None, help="the recipe spaces/attention.yaml adopts")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)  # one thread count for every training: it is part of the seed
    archs = architectures()
    plain_key = archs[0].key()
    if args.smoke:
        path = Path("/tmp/proxy_recipes_smoke.json")
        cache = run(archs[:3], 2, path, train=300, val=200)
        print(table(summary(cache, {}, plain_key), None))
        return
    cache_path = RESULTS / "proxy_recipes_trainings.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if args.time:
        time_recipes([archs[0], archs[8], archs[4]], cache, cache_path, train=TRAIN)
    elif not args.report_only:
        cache = run(archs, args.seeds, cache_path, train=TRAIN, val=6000)
    truth_path = RESULTS / "long_truth.json"
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else {}
    write_json(cache, RESULTS / "proxy_recipes.json", args.default)
    print(table(summary(cache, truth, plain_key), args.default))


if __name__ == "__main__":
    main()
