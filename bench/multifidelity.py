"""Multi-fidelity search against single-fidelity search at equal compute (search.rungs).

    python bench/multifidelity.py [--seeds 5] [--budget 12] [--json PATH] [--cache PATH]

The space: the attention zoo (12 modules with their hyper-parameters, two positions,
all/last blocks, ODConv) on a CIFAR ResNet-8 of width 8 -- 10 million architectures --
on Fashion-MNIST (3,000 training / 1,000 validation images), objectives accuracy and
FLOPs (deterministic, so that the comparison is about accuracy, not timing noise).
Three searches, each for ``--seeds`` search seeds, each stopped when it has trained
``--budget`` x the top rung's images (epochs x images x seeds, the compute measure):

- (a) ``tpe``: today's single-fidelity TPE, every architecture at the top rung's budget;
- (b) ``tpe+rungs``: TPE with rungs 1 epoch x 1,000 images, 2 x 1,500, 3 x 3,000 (eta 3;
  batch 64: 15, 46 and 140 steps);
- (c) ``random+rungs``: random sampling with the same rungs (the ASHA baseline).

Quality is the hypervolume of the front a search reports (its claims' front; at the
highest rung reached for (b) and (c)), with every front architecture trained again at
the top rung's budget with seeds 0, 1, 2 and scored by the 3-seed mean; reference point
accuracy 0.5 and 1.1 x the largest FLOPs of any scored front. Fronts are taken at 50% and
100% of the budget. Every training is real and cached on disk by (architecture,
epochs, images, seed), so a rerun and the three searches share what they trained; the
compute each search *would* have spent is counted whether or not the cache answered,
and so are the training seconds (recorded when the training ran).

Also: Kendall tau between rung 0 and the top rung over 12 random architectures of the
space (seed 0 at both), which bounds what promotion by rung 0 can do here; and with
``--rank-only``, the same for cheaper trainings against 3- and 12-epoch ones (which rung
could rank at all).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import search.objective  # noqa: E402
from models import Architecture  # noqa: E402
from runners.catalog import model_catalog  # noqa: E402
from runners.data import load_proxy_data  # noqa: E402
from runners.latency_profile import kendall_tau  # noqa: E402
from search.objective import Objective, run_trials  # noqa: E402
from search.rungs import Rung, rung_data, rungs_of  # noqa: E402
from search.sampling import suggest_architecture  # noqa: E402
from search.study import make_sampler, open_study  # noqa: E402
from spaces import load_space  # noqa: E402
from studies import hypervolume_2d, records, study_claims  # noqa: E402

SPACE = """\
name: {name}
backbone: {{name: resnet_cifar, depth: 8, width: 8}}
dataset: {{name: fashion-mnist, train_subset: 4000, val_fraction: 0.25}}
budget: {{epochs: 3, batch_size: 64, lr: 0.1}}
objectives: [accuracy, flops]
latency: {{device: cpu, batch_size: 1, threads: 1, repeats: 4}}
search: {{sampler: {sampler}, n_trials: 100000, seed: {seed}}}
confirm: false
{fidelity}stages:
  all:
    attention:
      none: {{}}
      se: {{reduction: [4, 16]}}
      eca: {{kernel_size: [auto, 5]}}
      gc: {{ratio: [0.0625, 0.25], fusion: [add, mul]}}
      ca: {{reduction: [8, 32]}}
      cbam: {{reduction: 16, kernel_size: [3, 7]}}
      simam: {{}}
      triplet: {{kernel_size: [3, 7]}}
      ese: {{}}
      ge: {{extent: [global, 2]}}
    position: [pre_add, post_add]
    blocks: [all, last]
    conv: {{standard: {{}}, odconv: {{kernel_num: [1, 4]}}}}
"""
RUNGS = """\
fidelity:
  rungs:
    - {epochs: 1, train_subset: 1000}
    - {epochs: 2, train_subset: 1500}
    - {epochs: 3, train_subset: 3000}
  eta: 3
"""
TOP = (3.0, 3000)  # the top rung: epochs, training images
EVAL_SEEDS = (0, 1, 2)
METHODS = {"tpe": ("tpe", ""), "tpe+rungs": ("tpe", RUNGS), "random+rungs": ("random", RUNGS)}


def fingerprint(data) -> str:
    """Which training images (a rung's subset depends on the search seed): labels and a pixel."""
    h = hashlib.sha1(data.train_y.cpu().numpy().tobytes())
    h.update(data.train_x[:, 0, 14, 14].cpu().numpy().tobytes())
    return h.hexdigest()[:10]


class CachedTrainer:
    """``search.objective.train_seed`` with a disk cache; counts the compute a search spends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cache: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}
        self.real = search.objective.train_seed
        self.images = 0.0
        self.seconds = 0.0
        self.hits = self.misses = 0

    def reset(self) -> None:
        self.images = self.seconds = 0.0

    def __call__(self, arch, space, data, *, seed, device, budget=None) -> dict:
        epochs, n = (budget or space.config.budget).epochs, len(data.train_y)
        key = f"{arch.key()}|{epochs:g}|{n}|{seed}|{fingerprint(data)}"
        if key in self.cache:
            self.hits += 1
        else:
            self.misses += 1
            self.cache[key] = self.real(arch, space, data, seed=seed, device=device, budget=budget)
            if self.misses % 10 == 0:
                self.save()
        self.images += epochs * n
        self.seconds += self.cache[key]["train_seconds"]
        return self.cache[key]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.cache))


def space_file(tmp: Path, name: str, sampler: str, seed: int, fidelity: str) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(SPACE.format(name=name, sampler=sampler, seed=seed, fidelity=fidelity))
    return path


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


def run_search(method: str, seed: int, trainer: CachedTrainer, data, limit: float, tmp: Path) -> dict:
    sampler, fidelity = METHODS[method]
    name = f"{method.replace('+', '-')}-{seed}"
    space = load_space(space_file(tmp, name, sampler, seed, fidelity), catalog=model_catalog())
    study = open_study(space, storage=f"sqlite:///{tmp / name}.db", study_name=name,
                       sampler=make_sampler(space, seed=seed), baselines=False)
    trainer.reset()
    budget = Budget(trainer, limit)
    start = time.perf_counter()
    run_trials(study, Objective(space, data, device=torch.device("cpu")), stop=budget, timeout=None,
               shared=False)
    recs = [r for r in records(study) if r.is_original]
    return {"method": method, "seed": seed, "images": trainer.images,
            "train_seconds": trainer.seconds, "wall_seconds": time.perf_counter() - start,
            "architectures": len({r.arch_key for r in recs}),
            "per_rung": [sum(1 for r in recs if r.at_rung == k) for k in range(3)],
            "fronts": {**budget.snapshots, "1": front_archs(study)}}


def score(archs: list[dict], trainer: CachedTrainer, space, data_top) -> list[tuple[float, float]]:
    """(3-seed mean accuracy at the top rung's budget, FLOPs) of each front architecture."""
    out = []
    for a in archs:
        arch = Architecture.from_dict(a["arch"])
        accs = [trainer(arch, space, data_top, seed=s, device=torch.device("cpu"),
                        budget=space.config.budget)["accuracy"] for s in EVAL_SEEDS]
        out.append((statistics.fmean(accs), float(a["flops"])))
    return out


def hypervolume(points: list[tuple[float, float]], flops_ref: float) -> float:
    # maximise accuracy, minimise FLOPs: as minimisation of (-accuracy, FLOPs / 1e6)
    return hypervolume_2d([(-acc, f / 1e6) for acc, f in points], (-0.5, flops_ref / 1e6))


def _tau_architectures(space, n: int) -> list[Architecture]:
    """``n`` distinct random architectures of ``space`` (seed 0): the rank-agreement sample."""
    study = optuna.create_study(directions=space.directions,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    archs: dict[str, Architecture] = {}
    while len(archs) < n:
        a = suggest_architecture(study.ask(), space, in_channels=1, input_size=28, num_classes=10)
        archs.setdefault(a.key(), a)
    return list(archs.values())


def _accuracy(trainer: CachedTrainer, space, data, arch: Architecture, epochs: float,
              images: int) -> float:
    """One training (seed 0) of ``arch`` for ``epochs`` on ``images`` of the training split."""
    rung = Rung(0, space.config.budget.model_copy(update={"epochs": epochs}), images, (0,))
    return trainer(arch, space, rung_data(data, rung, seed=0), seed=0, device=torch.device("cpu"),
                   budget=rung.budget)["accuracy"]


def rank_agreement(trainer: CachedTrainer, tmp: Path, data, n: int = 12) -> dict:
    """Accuracy at rung 0 and at the top rung (seed 0) of ``n`` random architectures."""
    space = load_space(space_file(tmp, "tau", "random", 0, RUNGS), catalog=model_catalog())
    rungs = rungs_of(space)
    assert rungs is not None
    archs = _tau_architectures(space, n)
    low = [_accuracy(trainer, space, data, a, rungs[0].budget.epochs, rungs[0].train_images or 3000)
           for a in archs]
    top = [_accuracy(trainer, space, data, a, *TOP) for a in archs]
    return {"architectures": n, "kendall_tau_rung0_vs_top": kendall_tau(low, top),
            "rung0": low, "top": top}


LOWS = ((1, 1000), (1, 3000), (2, 1500), (2, 3000), (3, 3000))


def rank_table(trainer: CachedTrainer, tmp: Path, data, *, tops: tuple[float, ...] = (3, 12),
               n: int = 12) -> str:
    """Kendall tau of cheaper trainings (``LOWS``) against longer ones (``tops`` epochs on all
    3,000 images) over the rank-agreement sample: which rung could rank here."""
    space = load_space(space_file(tmp, "tau", "random", 0, RUNGS), catalog=model_catalog())
    archs = _tau_architectures(space, n)
    lines = ["| cheap training (seed 0) | SGD steps | against | cost | Kendall tau |",
             "|---|---|---|---|---|"]
    for top_epochs in tops:
        top = [_accuracy(trainer, space, data, a, top_epochs, 3000) for a in archs]
        lines.append(f"| (top: {top_epochs:g} epochs x 3,000, accuracies "
                     f"{min(top):.3f}-{max(top):.3f}) | | | | |")
        for epochs, images in LOWS:
            if epochs >= top_epochs:
                continue
            low = [_accuracy(trainer, space, data, a, epochs, images) for a in archs]
            steps = int(epochs * (images // 64))
            lines.append(f"| {epochs} epoch(s) x {images:,} images | {steps} | {top_epochs:g} epochs | "
                         f"{epochs * images / (top_epochs * 3000):.2f} | {kendall_tau(low, top):.2f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=float, default=12.0, help="in top-rung trainings")
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--cache", type=Path, default=ROOT / "bench/results/multifidelity_cache.json")
    p.add_argument("--rank-only", action="store_true",
                   help="only the rank agreement of cheaper trainings with 3- and 12-epoch ones")
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(2)
    trainer = CachedTrainer(a.cache)
    search.objective.train_seed = trainer  # every training of the searches goes through the cache
    limit = a.budget * TOP[0] * TOP[1]
    if a.rank_only:
        with tempfile.TemporaryDirectory() as tmp_s:
            base = load_space(space_file(Path(tmp_s), "base", "tpe", 0, ""), catalog=model_catalog())
            data = load_proxy_data(**base.config.dataset.model_dump(), seed=0, progress=False)
            try:
                print(rank_table(trainer, Path(tmp_s), data))
            finally:
                trainer.save()
        return 0
    runs = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        base = load_space(space_file(tmp, "base", "tpe", 0, ""), catalog=model_catalog())
        data = load_proxy_data(**base.config.dataset.model_dump(), seed=0, progress=False)
        try:
            for seed in range(a.seeds):
                for method in a.methods:
                    run = run_search(method, seed, trainer, data, limit, tmp)
                    runs.append(run)
                    print(f"{method:13s} seed {seed}: {run['architectures']} architectures "
                          f"(per rung {run['per_rung']}), {run['images']:,.0f} images, "
                          f"{run['train_seconds']:.0f} s of training", flush=True)
            for run in runs:  # score every snapshot's front at the top rung, 3 seeds
                run["scored"] = {f: score(archs, trainer, base, data) for f, archs in run["fronts"].items()}
            tau = rank_agreement(trainer, tmp, data)
        finally:
            trainer.save()
    flops_ref = 1.1 * max(f for run in runs for pts in run["scored"].values() for _, f in pts)
    for run in runs:
        run["hypervolume"] = {f: hypervolume(pts, flops_ref) for f, pts in run["scored"].items()}
    print(table(runs, a.methods))
    print(f"rank agreement over {tau['architectures']} random architectures: Kendall tau "
          f"{tau['kendall_tau_rung0_vs_top']:.2f} between rung 0 and the top rung")
    print(f"trainings: {trainer.misses} run, {trainer.hits} answered by the cache")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"runs": runs, "rank_agreement": tau, "flops_ref": flops_ref,
                                      "budget_images": limit}, indent=1))
    return 0


def table(runs: list[dict], methods: list[str]) -> str:
    lines = ["| search | hypervolume at 50% / 100% of the compute (mean ± sd over seeds) | "
             "architectures trained (per rung) | training s |", "|---|---|---|---|"]
    for m in methods:
        rs = [r for r in runs if r["method"] == m]
        hv = {f: [r["hypervolume"][f] for r in rs if f in r["hypervolume"]] for f in ("0.5", "1")}
        cells = " / ".join(f"{statistics.fmean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0:.3f}"
                           for v in hv.values() if v)
        per_rung = [round(statistics.fmean(r["per_rung"][k] for r in rs), 1) for k in range(3)]
        lines.append(f"| {m} | {cells} | {statistics.fmean(r['architectures'] for r in rs):.1f} "
                     f"{per_rung} | {statistics.fmean(r['train_seconds'] for r in rs):.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
