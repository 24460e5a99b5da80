"""Multi-fidelity search against single-fidelity search at equal compute (search.rungs).

    python -m bench.multifidelity [--proxy NAME] [--seeds 5] [--budget 10]
                                  [--jobs N] [--device cpu|cuda] [--json PATH] [--cache PATH]
                                  [--rank-only]

The space: the attention zoo (12 modules with their hyper-parameters, two positions,
all/last blocks, ODConv) on a CIFAR ResNet-8 of width 8 -- 10 million architectures --
on Fashion-MNIST, objectives accuracy and FLOPs (deterministic, so that the comparison
is about accuracy, not timing noise). ``--proxy`` (``PROXIES``) sets the scale:

- ``small``: 3,000 training / 1,000 validation images; top rung 3 epochs x 3,000 (138
  SGD steps); rungs 1 x 1,000 and 2 x 1,500 below it (eta 3).
- ``medium``: 6,000 / 2,000 images; top rung 4 epochs x 6,000 (372 steps); one rung of
  1 epoch x 6,000 below it (a quarter of the cost; eta 3).
- ``large``: 12,000 / 4,000 images; top rung 4 epochs x 12,000 (750 steps); one rung of
  1 epoch x 6,000 below it (1/8 of the cost; eta 3), the cheapest training that ranked
  these architectures as well as a second training at the top budget does
  (``--rank-only``).
- ``clutter``: the medium proxy's sizes on cluttered images (``Clutter``: each image at a
  random place on a 40 x 40 field with six 12 x 12 pieces of other images laid over it,
  after Cluttered MNIST), a task where the network has to find the object, so where the
  placement of (spatial) attention can matter more than on the clean images. One rung of
  2 epochs x 6,000 below the top (half the cost; eta 3): there 1 epoch ranked within chance.
- ``clutter-cheap``: the same with the rung at 1 epoch x 6,000 (a quarter of the cost):
  more architectures, promoted on a noisier ranking.
- ``tiny``: seconds, to check that the script runs (``QUICK=1 bash bench/gpu.sh``).

Three searches, each for ``--seeds`` search seeds, each stopped when it has trained
``--budget`` x the top rung's images (epochs x images x seeds, the compute measure):

- (a) ``tpe``: today's single-fidelity TPE, every architecture at the top rung's budget;
- (b) ``tpe+rungs``: TPE with the proxy's rungs;
- (c) ``random+rungs``: random sampling with the same rungs (the ASHA baseline);
- and, when named in ``--methods``, ``tpe+rungs+highest``: (b) with ``fidelity.learn_from:
  highest``, TPE learning from the highest rung with 10 results (BOHB's rule) instead of rung 0.

Quality is the hypervolume of the front a search reports (its claims' front; at the
highest rung reached for (b) and (c)), with every front architecture trained again at
the top rung's budget with seeds 0, 1, 2 and scored by the 3-seed mean; reference point
the proxy's ``accuracy_ref`` (0.5, below every front's accuracy on the clean images; 0.1,
chance, on the cluttered ones, where fronts reach 0.38-0.56) and 1.1 x the largest FLOPs
of any scored front. Fronts are taken at 50% and
100% of the budget. Every training is real and cached on disk by (architecture,
epochs, images, seed, data; device and threads where they are not the CPU's 2), so a
rerun and the three searches share what they trained; the compute each search *would*
have spent is counted whether or not the cache answered, and so are the training
seconds (recorded when the training ran).

``--jobs N`` runs the searches, then the scoring trainings, in N processes (spawned;
each with the CPU's threads divided among them, or sharing the one GPU); each process
reads the cache as it was at the start and sends back what it trained
(``bench/multifidelity_setup.py``: the space, the proxies and the cached trainings).

Also the rank table: Kendall tau of cheaper trainings (seed 0) against the top rung over
12 random architectures of the space, which bounds what promotion by a cheap rung can do:
against the top rung at the same seed (what promotion sees: a search trains every rung
with its ``search.seed``, so the two share initialisation and the first batches) and at
another seed (what the cheap rung says about the architecture rather than about the
seed), beside the ceiling: the top rung at seed 1 against seed 0, i.e. how well a
training at the full budget ranks them itself. ``--rank-only`` prints only
that table. Beside it, how much of the spread in top-rung accuracy is the architecture's
rather than the seed's (``architecture_share``: the intraclass correlation, over the rank
table's architectures at seeds 0 and 1, and over every scored front architecture at
seeds 0, 1, 2): where it is low, no search can rank the architectures, with rungs or without.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]

from bench.multifidelity_setup import (  # noqa: E402
    PROXIES,
    CachedTrainer,
    Proxy,
    Worker,
    in_parallel,
    missing,
    start,
    train_one,
    worker,
)
from bench.multifidelity_stats import (  # noqa: E402
    architecture_share,
    paired,
    paired_table,
    share_line,
    table,
)
from models import Architecture  # noqa: E402
from runners.catalog import model_catalog  # noqa: E402
from search.objective import Objective, run_trials  # noqa: E402
from search.plan import RunPlan  # noqa: E402
from search.sampling import suggest_architecture  # noqa: E402
from search.study import make_sampler, open_study  # noqa: E402
from spaces import load_space  # noqa: E402
from stats import chance_tau, kendall_tau  # noqa: E402
from studies import hypervolume_2d, records, study_claims  # noqa: E402

EVAL_SEEDS = (0, 1, 2)
# method -> (sampler, fidelity.learn_from; None: single fidelity)
METHODS = {"tpe": ("tpe", None), "tpe+rungs": ("tpe", "rung0"), "random+rungs": ("random", "rung0"),
           "tpe+rungs+highest": ("tpe", "highest")}
DEFAULT_METHODS = ["tpe", "tpe+rungs", "random+rungs"]


class Budget:
    """Stop the search once it has spent ``limit`` images; snapshot its front on the way."""

    def __init__(self, trainer: CachedTrainer, limit: float) -> None:
        self.trainer, self.limit = trainer, limit
        self.snapshots: dict[str, list[dict]] = {}

    def __call__(self, study: optuna.Study, t) -> None:
        for frac in (0.5,):
            if f"{frac:g}" not in self.snapshots and self.trainer.images >= frac * self.limit:
                self.snapshots[f"{frac:g}"] = front_archs(study)
        if self.trainer.images >= self.limit:
            study.stop()


def front_archs(study: optuna.Study) -> list[dict]:
    claims = study_claims(study)
    by_number = {r.number: r for r in records(study)}
    return [{"arch": dict(by_number[c.number].arch), "flops": by_number[c.number].flops,
             "rung": claims.rung} for c in claims.front]


def run_search(job: tuple[str, int, float]) -> tuple[dict, dict[str, dict]]:
    """One search (method, search seed, images to spend) in this process: its run record,
    and what it trained that the cache did not have."""
    method, seed, limit = job
    w = worker()
    sampler, learn_from = METHODS[method]
    name = f"{method.replace('+', '-')}-{seed}"
    space = load_space(w.space_file(name, sampler, seed, learn_from), catalog=model_catalog())
    study = open_study(space, storage=f"sqlite:///{w.tmp / name}.db", study_name=name,
                       sampler=make_sampler(space, seed=seed), baselines=False)
    w.trainer.reset()
    budget = Budget(w.trainer, limit)
    start = time.perf_counter()
    run_trials(study, Objective(RunPlan(space, w.device, train=w.trainer), w.data), stop=budget, timeout=None,
               shared=False)
    recs = [r for r in records(study) if r.is_original]
    run = {"method": method, "seed": seed, "images": w.trainer.images,
           "train_seconds": w.trainer.seconds, "wall_seconds": time.perf_counter() - start,
           "architectures": len({r.arch_key for r in recs}),
           "per_rung": [sum(1 for r in recs if r.at_rung == k) for k in range(len(w.proxy.rungs) + 1)],
           "fronts": {**budget.snapshots, "1": front_archs(study)}}
    return run, w.take_new()


def _tau_architectures(space, n: int, size: int) -> list[Architecture]:
    """``n`` distinct random architectures of ``space`` (seed 0) for images of ``size`` pixels:
    the rank-agreement sample."""
    study = optuna.create_study(directions=space.directions,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    archs: dict[str, Architecture] = {}
    while len(archs) < n:
        a = suggest_architecture(study.ask(), space, in_channels=1, input_size=size, num_classes=10)
        archs.setdefault(a.key(), a)
    return list(archs.values())


def rank_trainings(proxy: Proxy) -> list[tuple[float, int, int]]:
    """(epochs, images, seed) of every training the rank table reads, per architecture."""
    epochs, images = proxy.top
    return [(epochs, images, 0), (epochs, images, 1), *((e, n, 0) for e, n in proxy.lows),
            *((e, images, 0) for e in proxy.longer)]


def rank_table(w: Worker, archs: list[Architecture]) -> tuple[str, dict]:
    """Kendall tau of cheaper trainings (``lows``; seed 0) against the top rung at seeds 0 and
    1, with the ceiling (the top rung's seed 1 against its seed 0), and against longer
    trainings (seed 0) where the proxy has them, over ``archs``. Returns the table and the
    numbers behind it."""
    proxy, acc = w.proxy, {}

    def accuracies(epochs: float, images: int, seed: int = 0) -> list[float]:
        return acc.setdefault((epochs, images, seed), [w.train(a, epochs, images, seed)["accuracy"]
                                                       for a in archs])

    lines = ["| cheaper training (seed 0) | SGD steps | against | cost | tau, same seed (0) | "
             "tau, other seed (1) |", "|---|---|---|---|---|---|"]
    top_n = proxy.top[1]
    taus: dict[str, float] = {}
    for top_epochs in (proxy.top[0], *proxy.longer):
        top = accuracies(top_epochs, top_n)
        other = accuracies(top_epochs, top_n, 1) if top_epochs == proxy.top[0] else None
        lines.append(f"| (top: {top_epochs:g} epochs x {top_n:,}, accuracies "
                     f"{min(top):.3f}-{max(top):.3f}) | | | | | |")
        for epochs, images in (*proxy.lows, proxy.top):
            if epochs * images >= top_epochs * top_n:
                continue
            low = accuracies(epochs, images)
            name = f"{epochs:g}x{images}s0 vs {top_epochs:g}x{top_n}"
            taus[name] = kendall_tau(low, top)
            cross = "–"
            if other is not None:
                taus[f"{name}s1"] = kendall_tau(low, other)
                cross = f"{taus[f'{name}s1']:.2f}"
            lines.append(f"| {epochs:g} epoch(s) x {images:,} images | {int(epochs * (images // 64))} | "
                         f"{top_epochs:g} epochs | {epochs * images / (top_epochs * top_n):.2f} | "
                         f"{taus[name]:.2f} | {cross} |")
        if other is not None:  # the ceiling: the top rung against itself at another seed
            taus[f"{top_epochs:g}x{top_n}s1 vs {top_epochs:g}x{top_n}"] = ceiling = kendall_tau(other, top)
            lines.append(f"| **the top rung, seed 0 (ceiling)** | {int(top_epochs * (top_n // 64))} | "
                         f"{top_epochs:g} epochs | 1.00 | – | {ceiling:.2f} |")
    limit = chance_tau(len(archs))
    lines.append(f"\nChance alone: a random order of {len(archs)} architectures reaches |tau| {limit:.2f} "
                 "with probability 5%; a smaller tau is within chance.")
    seed0, seed1 = acc[(*proxy.top, 0)], acc[(*proxy.top, 1)]
    share = architecture_share([list(p) for p in zip(seed0, seed1, strict=True)])
    lines.append(share_line(share, "architectures at the top rung, seeds 0 and 1"))
    return "\n".join(lines), {"kendall_tau": taus, "architectures": len(archs), "chance_tau": limit,
                              "architecture_share": share,
                              "accuracy": {f"{e:g}x{n}s{s}": v for (e, n, s), v in acc.items()}}


def hypervolume(points: list[tuple[float, float]], flops_ref: float, accuracy_ref: float) -> float:
    # maximise accuracy, minimise FLOPs: as minimisation of (-accuracy, FLOPs / 1e6)
    return hypervolume_2d([(-acc, f / 1e6) for acc, f in points], (-accuracy_ref, flops_ref / 1e6))


def top_accuracies(w: Worker, arch: dict) -> list[float]:
    """``arch``'s accuracies at the top rung's budget with each of ``EVAL_SEEDS``."""
    return [w.train(Architecture.from_dict(arch), *w.proxy.top, s)["accuracy"] for s in EVAL_SEEDS]


def score(w: Worker, archs: list[dict]) -> list[tuple[float, float]]:
    """(3-seed mean accuracy at the top rung's budget, FLOPs) of each front architecture."""
    return [(statistics.fmean(top_accuracies(w, a["arch"])), float(a["flops"])) for a in archs]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--proxy", choices=sorted(PROXIES), default="small")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=float, default=10.0, help="in top-rung trainings")
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=DEFAULT_METHODS)
    p.add_argument("--jobs", type=int, default=1, help="processes (searches, then trainings)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--cache", type=Path, default=ROOT / "bench/results/multifidelity_cache.json")
    p.add_argument("--rank-only", action="store_true",
                   help="only the rank agreement of cheaper trainings with the top rung")
    a = p.parse_args()
    if a.jobs < 1 or a.seeds < 1 or a.budget <= 0:
        p.error("--jobs and --seeds must be at least 1 and --budget above 0")
    proxy = PROXIES[a.proxy]
    threads = max(1, (os.cpu_count() or 2) // a.jobs) if a.device == "cpu" else 1
    if a.device == "cpu" and a.jobs == 1:
        threads = 2  # the thread count the cache on disk was made with (it changes the numbers)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        args = (proxy, a.cache, a.device, threads, tmp)
        start(*args)
        w = worker()
        pool = (ProcessPoolExecutor(a.jobs, mp_context=mp.get_context("spawn"), initializer=start,
                                    initargs=args) if a.jobs > 1 else None)
        try:
            archs = _tau_architectures(w.base, 12, w.data.input_size)
            rank_jobs = [(x.to_dict(), e, n, s) for x in archs for e, n, s in rank_trainings(proxy)]
            in_parallel(train_one, missing(w, rank_jobs), pool, w)
            table_text, rank = rank_table(w, archs)
            if a.rank_only:
                print(table_text)
                write_json(a.json, {"proxy": a.proxy, "device": a.device, "rank_agreement": rank})
                return 0
            jobs = [(m, seed, a.budget * proxy.top_images) for seed in range(a.seeds) for m in a.methods]
            runs = in_parallel(run_search, jobs, pool, w)
            for run in runs:
                print(f"{run['method']:13s} seed {run['seed']}: {run['architectures']} architectures "
                      f"(per rung {run['per_rung']}), {run['images']:,.0f} images, "
                      f"{run['train_seconds']:.0f} s of training", flush=True)
            scoring = [(f["arch"], *proxy.top, s) for run in runs for front in run["fronts"].values()
                       for f in front for s in EVAL_SEEDS]
            in_parallel(train_one, missing(w, scoring), pool, w)
            for run in runs:  # every snapshot's front at the top rung, 3 seeds (all cached now)
                run["scored"] = {f: score(w, archs_) for f, archs_ in run["fronts"].items()}
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            w.trainer.save()
    flops_ref = 1.1 * max(f for run in runs for pts in run["scored"].values() for _, f in pts)
    for run in runs:
        run["hypervolume"] = {f: hypervolume(pts, flops_ref, proxy.accuracy_ref)
                              for f, pts in run["scored"].items()}
    scored = {Architecture.from_dict(f["arch"]).key(): f["arch"] for run in runs
              for front in run["fronts"].values() for f in front}
    groups = [top_accuracies(w, x) for x in scored.values()]
    share = architecture_share(groups) if len(groups) >= 3 else None  # a tiny run has fewer
    diffs = paired(runs, a.methods)
    print(table(runs, a.methods, len(proxy.rungs) + 1))
    print(paired_table(diffs))
    print(share_line(share, "front architectures at the top rung, seeds 0, 1, 2") if share else
          f"Architecture against seed: {len(groups)} front architecture(s), too few to tell (3 needed)")
    print(table_text)
    print(f"trainings run now: {w.trainer.trained} (the rest answered by {a.cache})")
    write_json(a.json, {"proxy": a.proxy, "device": a.device, "jobs": a.jobs, "runs": runs,
                        "rank_agreement": rank, "architecture_share": share, "flops_ref": flops_ref,
                        "accuracy_ref": proxy.accuracy_ref, "paired": diffs,
                        "budget_images": a.budget * proxy.top_images})
    return 0


def write_json(path: Path | None, payload: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    sys.exit(main())
