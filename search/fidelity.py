"""Does the proxy rank architectures the way longer training does?

    python -m search.fidelity --study NAME [--storage URL] [--top 8] [--epochs 10] [--seeds 3]

Takes up to ``--top`` architectures of the Pareto front (nearest the knee
first) plus the reference baselines, trains each with ``--epochs`` on the
*whole* training set less a seeded stratified validation split (the same
``val_fraction`` as the search; the test set is never read), and reports
Kendall's tau and Spearman's rho between proxy and long-training validation
accuracy. It also retrains the knee with the proxy budget under ``--seeds``
seeds, to show how much of the proxy's ranking is seed noise. The result is
stored in the study (``StudyRecord.fidelity``) and shown by the dashboard.
Published anchors: reduced-training proxies reach a Spearman rho of about 0.6
on NAS-Bench-201; zero-cost proxies 0.58-0.82.
"""

from __future__ import annotations

import statistics
import sys
import time

import optuna

from spaces import TRAIN_DEVICES, SpaceError
from stats import kendall_tau
from studies import (
    FidelityRecord,
    FidelityRow,
    PickError,
    StudyRecord,
    TrialRecord,
    knee,
    records,
    study_claims,
    study_directions,
    write_study,
)
from studies.cli import run_on_study, study_parser


def _candidates(study: optuna.Study, top: int) -> list[TrialRecord]:
    """The front the study presents (knee first), then the reference baselines."""
    front = study_claims(study).front
    if not front:
        raise PickError(f"study {study.study_name!r} has no complete feasible trial")
    k = knee(front, study_directions(study))
    chosen = {c.number for c in ([k] + [c for c in front if c.number != k.number])[:top]}
    by_number = {r.number: r for r in records(study)}
    refs = [r.number for r in by_number.values() if r.reference is not None and r.is_original]
    order = [k.number] + [c.number for c in front if c.number in chosen and c.number != k.number]
    return [by_number[n] for n in order + [n for n in refs if n not in chosen]]


def run_fidelity(study: optuna.Study, *, top: int, epochs: float, seeds: int,
                 device: str = "cpu", log=print) -> FidelityRecord:
    """Train, compare, store in the study (``StudyRecord.fidelity_record`` reads it back), and
    return the result.

    Raises:
        PickError: the study has no complete feasible trial.
        DatasetNotFound: the dataset is not available.
    """
    from models import Architecture, build_model
    from runners.data import load_proxy_data
    from runners.trainer import train_proxy

    cfg = StudyRecord.of(study).config
    if cfg is None:
        raise SpaceError(f"study {study.study_name!r} stored no space: it was not made by search.run")
    seed = cfg.search.seed
    trials = _candidates(study, top)
    proxy_budget = cfg.budget
    long_budget = cfg.budget.model_copy(update={"epochs": epochs})
    long_data = load_proxy_data(**{**cfg.dataset.model_dump(), "train_subset": None}, seed=seed,
                                device=device)
    rows = []
    for t in trials:
        arch = Architecture.from_dict(t.arch)  # type: ignore[arg-type]
        start = time.perf_counter()
        r = train_proxy(build_model(arch, seed=seed).to(device), long_data, budget=long_budget, seed=seed)
        rows.append(FidelityRow(t.number, arch.short(), t.reference, t.accuracy,  # type: ignore[arg-type]
                                r.val_accuracy))
        log(f"#{t.number:<3} {arch.short():36s} proxy {t.accuracy:.4f}  "
            f"long {r.val_accuracy:.4f}  ({time.perf_counter() - start:.0f} s)")
    proxy = [r.proxy_accuracy for r in rows]
    long = [r.long_accuracy for r in rows]
    # a rank correlation is undefined (NaN, shown as such) when either side is all ties
    ranked = len(set(proxy)) > 1 and len(set(long)) > 1
    from scipy.stats import spearmanr  # loaded only by the command that needs it

    tau = kendall_tau(proxy, long) if ranked else float("nan")
    rho = float(spearmanr(proxy, long).statistic) if ranked else float("nan")

    proxy_data = load_proxy_data(**cfg.dataset.model_dump(), seed=seed, device=device)
    knee_arch = Architecture.from_dict(trials[0].arch)  # type: ignore[arg-type]
    spread = []
    for s in range(seeds):
        spread.append(train_proxy(build_model(knee_arch, seed=seed + s).to(device), proxy_data,
                                  budget=proxy_budget, seed=seed + s).val_accuracy)
    result = FidelityRecord(
        epochs=epochs, train_images=len(long_data.train_x), val_images=len(long_data.val_x),
        kendall_tau=tau, spearman_rho=rho, rows=tuple(rows), spread_trial=trials[0].number,
        spread_arch=knee_arch.short(), spread_seeds=tuple(range(seed, seed + seeds)),
        spread_accuracies=tuple(spread), spread_std=statistics.stdev(spread) if len(spread) > 1 else 0.0)
    write_study(study, fidelity=result.to_dict())
    return result


def main(argv: list[str] | None = None) -> int:
    p = study_parser("python -m search.fidelity", __doc__.split("\n")[0])
    p.add_argument("--top", type=int, default=8, help="Pareto architectures to retrain")
    p.add_argument("--epochs", type=float, default=10, help="epochs of the long training")
    p.add_argument("--seeds", type=int, default=3, help="seeds for the proxy's spread")
    p.add_argument("--device", choices=TRAIN_DEVICES, default="auto",
                   help="auto: CUDA when torch sees a GPU, else the CPU")
    args = p.parse_args(argv)
    from runners.device import resolve_device  # torch loads once the flags parse

    def fidelity(study: optuna.Study) -> int:
        device = str(resolve_device(args.device)[0])  # DeviceUnavailable: run_on_study's exit 2
        result = run_fidelity(study, top=args.top, epochs=args.epochs, seeds=args.seeds,
                              device=device)
        print(f"Kendall tau {result.kendall_tau:.3f}, Spearman rho {result.spearman_rho:.3f} "
              f"over {len(result.rows)} architectures ({args.epochs:g} epochs on "
              f"{result.train_images} images); proxy seed spread of #{result.spread_trial}: "
              f"std {result.spread_std:.4f} over {len(result.spread_seeds)} seeds; stored in the study")
        return 0

    return run_on_study(args, fidelity)


if __name__ == "__main__":
    sys.exit(main())
