"""Full training at ``runners.train``'s default settings, and what each of its levers adds (issue 32).

    python -m bench.full_training [--epochs 30] [--seeds 2] [--device cuda] [--arch best.yaml ...]
    python -m bench.full_training --smoke        # a fraction of an epoch: checks the script

Two parts; each training is stored as it ends in ``DIR/full_training_cache.json`` (``--out-dir``,
default ``bench/results``), so a run that is stopped continues when run again:

1. ``levers``: the default space's plain ResNet-20 trained for ``--epochs`` on 54,000 training
   images and scored on the 6,000 others of the training files (never the test set: this is
   what chooses the defaults), per seed: one training at the default settings and one with
   random erasing (``erase_prob`` 0.5), each scored on its last weights and on a moving average
   of them (decay 0.999, kept beside the training: the same trajectory), each with and without
   the mirror (TTA). Printed: each view's mean over seeds and its paired difference to the
   default. Written to ``DIR/full_training_levers.json`` (``{view: [accuracy per seed]}``).
   ``--long`` adds the schedule lever: the default recipe for 2x ``--epochs``, checkpointed per
   epoch in ``DIR/full_training_long/`` (a stopped run continues from its last epoch).
2. ``target``: ``runners.train``'s default settings on all 60,000 images, tested on the test
   set, for the plain backbone and each ``--arch`` file (the default search's ``best.yaml``),
   through ``runners.train.train_full`` (resumable per epoch): ``DIR/full_training.json`` as
   ``{arch_key: {"test_accuracy": [per seed], "epochs": e, "device": "..."}}``, with each seed's
   ``train_seconds`` and ``test_accuracy_mirror`` (the same weights scored with the mirror: a
   reading of the lever on these trainings; its default is chosen by part 1).

Hours per training on a 2-core CPU; about a minute on an H200 (``STEPS=fulltraining bash
bench/gpu.sh``). Accuracies only: the seconds in the cache are a note, not a benchmark.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from bench.proxy_budget import architectures  # noqa: E402
from models import build_model, load_architecture, write_architecture  # noqa: E402
from runners.data import load_full_data, load_proxy_data  # noqa: E402
from runners.train import load_trained, train_full  # noqa: E402
from runners.trainer import TrainBudget, evaluate, train_proxy, weight_average  # noqa: E402

RESULTS = ROOT / "bench" / "results"
EMA_DECAY = 0.999  # a horizon of ~1,000 steps: 2 of 30 epochs at batch 128
RECIPES = {"default": {}, "erase": {"erase_prob": 0.5}}
LONG = 2  # --long: the schedule lever, the default recipe for LONG x --epochs


def long_views(seed: int, data, *, epochs: float, device: str, checkpoint: Path) -> dict:
    """The default recipe trained ``LONG`` times as long (same seed: the same initial weights and
    the same first data order), resumable per epoch from ``checkpoint``; its accuracy on the
    held-out split by last weights, without / with the mirror (no moving average: it is not
    part of a checkpoint)."""
    model = build_model(architectures()[0], seed=seed).to(device)
    total = LONG * epochs
    train_proxy(model, data, budget=TrainBudget(epochs=total), seed=seed, checkpoint=checkpoint,
                on_epoch=lambda e, n, loss: print(f"long seed {seed} epoch {e}/{n} train loss {loss:.4f}",
                                                  flush=True))
    checkpoint.unlink(missing_ok=True)  # the cache now holds the finished training
    return held_out_views(data, {f"long{LONG}x": model})


def lever_views(seed: int, recipe: str, data, *, epochs: float, device: str) -> dict:
    """One training of the plain backbone with ``RECIPES[recipe]`` on ``data``; its accuracy on the
    held-out split by last weights / moving average, without / with the mirror."""
    model = build_model(architectures()[0], seed=seed).to(device)
    average = weight_average(model, EMA_DECAY)
    train_proxy(model, data, budget=TrainBudget(epochs=epochs, **RECIPES[recipe]), seed=seed,
                on_step=average.update_parameters)
    return held_out_views(data, {recipe: model, recipe + "+ema": average.module})


def held_out_views(data, models: dict) -> dict[str, float]:
    """Each named model's accuracy on the held-out split without the mirror (its name) and with it
    (``NAME+tta``)."""
    return {name + ("+tta" if flip else ""): evaluate(m, data.val_x, data.val_y, data, tta_flip=flip)[0]
            for name, m in models.items() for flip in (False, True)}


def levers(cache: dict, *, seeds: int, epochs: float, train: int, val: int, device: str,
           save, first_seed: int = 0, long: Path | None = None) -> dict[str, list[float]]:
    """The lever table; with ``long`` (a folder for its per-epoch checkpoints) the schedule
    lever too, and only seeds that have every recipe are tabulated.

    Raises:
        SystemExit: the cache holds lever trainings of other settings (epochs, split sizes).
    """
    settings = {"epochs": epochs, "train": train, "val": val}
    if cache.setdefault("levers_settings", settings) != settings:
        raise SystemExit(f"the lever cache holds trainings with {cache['levers_settings']}, not "
                         f"{settings}: give another --out-dir")
    cell = cache.setdefault("levers", {})
    recipes = [*RECIPES, *(["long"] if long is not None else [])]
    data = None  # loaded once, and only when a training is left to run
    for seed in range(first_seed, seeds):
        for recipe in recipes:
            key = f"{recipe}/{seed}"
            if key not in cell:
                if data is None:
                    data = load_proxy_data(name="fashion-mnist", train_subset=train + val,
                                           val_fraction=val / (train + val), seed=0, device=device,
                                           progress=False)
                if recipe == "long":
                    cell[key] = long_views(seed, data, epochs=epochs, device=device,
                                           checkpoint=long / f"long{LONG}x-{epochs:g}-seed{seed}.pt")
                else:
                    cell[key] = lever_views(seed, recipe, data, epochs=epochs, device=device)
                save()
                views = ", ".join(f"{k} {v:.4f}" for k, v in cell[key].items())
                print(f"levers seed {seed} {recipe}: {views}",
                      flush=True)
    table: dict[str, list[float]] = {}
    done = [seed for seed in range(seeds) if all(f"{r}/{seed}" in cell for r in recipes)]
    if not done:
        return table
    seeds = len(done)
    for seed in done:
        for recipe in recipes:
            for view, acc in cell[f"{recipe}/{seed}"].items():
                table.setdefault(view, []).append(acc)
    base = table["default"]
    print(f"\n{'view':22s} {'mean':>7s} {'paired diff to default':>24s}   ({seeds} seeds, {epochs:g} epochs, "
          f"{train} training / {val} held-out images)")
    for view, accs in table.items():
        diffs = [a - b for a, b in zip(accs, base, strict=True)]
        spread = f" ± {statistics.stdev(diffs) * 100:.2f} sd" if len(diffs) > 1 else ""
        print(f"{view:22s} {statistics.fmean(accs):7.4f} {statistics.fmean(diffs) * 100:+18.2f} pts{spread}")
    return table


def target(arch_files: list[Path], *, seeds: int, epochs: float, device: str, out_dir: Path,
           first_seed: int = 0) -> dict:
    plain = out_dir / "full_training_plain.yaml"
    write_architecture(plain, architectures()[0])
    results = {}
    for path in [plain, *arch_files]:
        arch = load_architecture(path)
        folder = out_dir / "full_training" / folder_name(arch.key())
        report = train_full(path, epochs=epochs, out=folder, device=device,
                            seeds=tuple(range(first_seed, seeds)))
        results[arch.key()] = {"test_accuracy": [r["test_accuracy"] for r in report["runs"]],
                               "epochs": epochs, "device": _device_name(device),
                               "interval95": report["test_accuracy_interval95"],
                               "train_seconds": [r["train_seconds"] for r in report["runs"]],
                               "test_accuracy_mirror": mirrored(folder, report, arch, device)}
        print(f"target {arch.short()}: test accuracy {report['test_accuracy']:.4f} "
              f"{report['test_accuracy_interval95']}; with the mirror "
              f"{results[arch.key()]['test_accuracy_mirror']}", flush=True)
    return results


def mirrored(folder: Path, report: dict, arch, device: str) -> list[float]:
    """Each seed's saved weights scored on the test set with the mirror (TTA): a reading of what
    the lever would add to these trainings, not what chose its default (the held-out levers do)."""
    data = load_full_data(name=report["dataset"], device=device, image_size=arch.input_size,
                          channels=arch.in_channels, progress=False)
    return [evaluate(load_trained(folder / r["weights"], device=device), data.val_x, data.val_y,
                     data, tta_flip=True)[0] for r in report["runs"]]


def folder_name(key: str) -> str:
    """A folder name for an architecture key that every file system and tool takes: runs of
    characters other than letters, digits and ``._=,-`` become one ``_`` (``|``, ``>``, ``/``,
    ``(`` are in every key)."""
    return re.sub(r"[^A-Za-z0-9._=,-]+", "_", key).strip("_")


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    return f"CPU ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=float, default=30)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="train seeds from this one. levers: a second process with its own "
                             "--out-dir takes the later seeds (merge the caches' levers blocks); "
                             "target: a second process with the same --out-dir (one weights file "
                             "per seed), then a run from seed 0 finds both and writes the json")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", action="append", default=[], help="architecture files (best.yaml)")
    parser.add_argument("--parts", default="levers,target")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--long", action="store_true",
                        help=f"levers: also the schedule lever ({LONG}x --epochs, checkpointed per "
                             "epoch in DIR/full_training_long/)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    out_dir = Path("/tmp/full_training_smoke" if args.smoke else args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    epochs = 0.02 if args.smoke else args.epochs
    cache_path = out_dir / "full_training_cache.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}

    def save() -> None:
        cache_path.write_text(json.dumps(cache, indent=1) + "\n")

    if "levers" in args.parts:
        table = levers(cache, seeds=args.seeds, epochs=epochs, train=54_000, val=6_000,
                       device=args.device, save=save, first_seed=args.first_seed,
                       long=out_dir / "full_training_long" if args.long else None)
        (out_dir / "full_training_levers.json").write_text(json.dumps(table, indent=1) + "\n")
    if "target" in args.parts:
        results = target([Path(a) for a in args.arch], seeds=args.seeds, epochs=epochs,
                         device=args.device, out_dir=out_dir, first_seed=args.first_seed)
        (out_dir / "full_training.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
