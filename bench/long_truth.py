"""The long-training truth for the 12 architectures of ``bench/proxy_budget.py`` (issue 30).

    python -m bench.long_truth [--seeds 2] [--epochs 10] [--threads 2]
    python -m bench.long_truth --smoke     # 2 architectures, a fraction of an epoch: checks the script

Each architecture is trained with ``runners.trainer.train_proxy`` for ``--epochs`` (10) on
45,000 Fashion-MNIST training images and scored on the other 15,000 of the training files
(a held-out split, stratified; the test set is never read), seed by seed: every architecture at
seed 0 before any at seed 1, so a partial run already ranks all twelve once. Each training is
stored as it ends in ``bench/results/long_truth_cache.json`` (``arch_key -> seed -> accuracy,
val_loss, seconds``), and ``bench/results/long_truth.json`` (``arch_key -> [accuracy per seed]``,
keys as a study records them) is rewritten from it: stop it at any time, run it again to
continue. About 16 minutes per training on 2 quiet CPU threads, scaled from the 0.42 min of
2 epochs x 6,000 images (``bench/proxy_budget.py``): 6-7 hours for all 24; minutes on a GPU
(``--device cuda``, ``bench/gpu.sh``). Accuracies only: the seconds are a note, not a
benchmark (this may run beside other work).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from bench.proxy_budget import architectures  # noqa: E402
from models import build_model  # noqa: E402
from runners.data import load_proxy_data  # noqa: E402
from runners.trainer import TrainBudget, train_proxy  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def run(*, seeds: int, epochs: float, train: int, val: int, device: str, archs: list,
        cache_path: Path, truth_path: Path) -> dict:
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    data = load_proxy_data(name="fashion-mnist", train_subset=train + val,
                           val_fraction=val / (train + val), seed=0, device=device, progress=False)
    print(f"{len(data.train_x)} training / {len(data.val_x)} held-out images, {epochs:g} epochs",
          flush=True)
    for seed in range(seeds):
        for arch in archs:
            cell = cache.setdefault(arch.key(), {})
            if str(seed) in cell:
                continue
            start = time.perf_counter()
            r = train_proxy(build_model(arch, seed=seed).to(device), data,
                            budget=TrainBudget(epochs=epochs), seed=seed)
            cell[str(seed)] = {"accuracy": r.val_accuracy, "val_loss": r.val_loss,
                               "seconds": time.perf_counter() - start, "short": arch.short()}
            cache_path.write_text(json.dumps(cache, indent=1) + "\n")
            truth = {k: [v[s]["accuracy"] for s in sorted(v, key=int)] for k, v in cache.items()}
            truth_path.write_text(json.dumps(truth, indent=1) + "\n")
            print(f"seed {seed} {arch.short():40s} acc {r.val_accuracy:.4f} "
                  f"({cell[str(seed)]['seconds'] / 60:.1f} min)", flush=True)
    return cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out-dir", default=str(RESULTS),
                        help="where long_truth_cache.json and long_truth.json go (bench/gpu.sh: its results)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # one thread count for every training: part of the seed
    if args.smoke:
        run(seeds=1, epochs=0.05, train=2000, val=1000, device=args.device,
            archs=architectures()[:2], cache_path=Path("/tmp/long_truth_smoke_cache.json"),
            truth_path=Path("/tmp/long_truth_smoke.json"))
        return
    run(seeds=args.seeds, epochs=args.epochs, train=45_000, val=15_000, device=args.device,
        archs=architectures(), cache_path=Path(args.out_dir) / "long_truth_cache.json",
        truth_path=Path(args.out_dir) / "long_truth.json")


if __name__ == "__main__":
    main()
