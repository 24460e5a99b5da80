"""From scratch against fine-tuned from a trained backbone, on a task the backbone has not seen
(issue 33).

    python -m bench.finetune [--seeds 3] [--threads 1]
    python -m bench.finetune --report-only
    python -m bench.finetune --smoke          # tiny data, three architectures: checks the script

Nothing can be downloaded here, so the trained weights are made here. *Source task*: Fashion-MNIST
classes 0-4 (T-shirt, trouser, pullover, dress, coat), every training image of them (30,000):
the plain ResNet-20 of ``spaces/attention.yaml`` trained for ``--source-epochs`` (10) with the
trainer's defaults, seed 0, its state dict saved as ``torch.save(model.state_dict(), PATH)``
(``bench/results/finetune_source.pt``, not committed; made again when absent). *Target task*:
classes 5-9 (sandal, shirt, sneaker, bag, ankle boot), relabelled 0-4, 6,000 training and 6,000
validation images carved from the training files as ``spaces/attention.yaml`` carves them (the
test set is not read).

On the target, the first 8 architectures of ``bench/proxy_budget.py`` (5 classes) are trained
with ``spaces/attention.yaml``'s budget (2 epochs, batch 128, lr 0.1), ``--seeds`` (3) paired
seeds each, four ways: from random weights (shared initialisation, as a
search does) and from the source weights (``backbone.weights``: modules starting as the
identity, the body at ``budget.finetune.pretrained_lr`` 0.01), and fine-tuned with the stem and
stage 1 frozen (``budget.finetune.freeze: 1``), and fine-tuned with the inserted modules'
identity scales at 10x the rate (``budget.finetune.scale_lr: 1.0``). Each training is cached as it ends
(``bench/results/finetune_cache.json``: rerun to continue). Reported per way: mean accuracy, the
pooled single-seed std of the paired difference to no attention, the spread of the means,
discriminability and discriminability^2 per minute (``bench/ranking.py``), and the identity
check: the largest logit difference at step 0 between the plain trained network and each module
of the zoo inserted in every stage, at each position. Written to ``bench/results/finetune.json``.
The minutes are wall-clock minutes of these trainings (all ways on the same machine, side by
side); they may run beside other work, so compare the ways, not the absolute figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from bench.proxy_budget import architectures  # noqa: E402
from bench.ranking import ranking_figures  # noqa: E402
from models import Architecture, StageChoice, build_model, get_backbone_spec  # noqa: E402
from models.attention import attention_names, get_attention_spec  # noqa: E402
from models.pretrained import resolve_weights  # noqa: E402
from runners.data import ProxyData  # noqa: E402
from runners.data.proxy import load_split, stratified_split  # noqa: E402
from runners.trainer import TrainBudget, train_proxy  # noqa: E402
from spaces import fits_positions  # noqa: E402
from stats import t_interval  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SOURCE, TARGET = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
# way -> its budget.finetune (None: from random weights); freeze1 keeps the stem and stage 1 as
# loaded (budget.finetune.freeze), the attention inserted there still training; scale10x trains
# the inserted modules' identity scales at 10x budget.lr (budget.finetune.scale_lr 1.0)
WAYS: dict[str, dict | None] = {"scratch": None, "finetune": {}, "finetune+freeze1": {"freeze": 1},
                                "finetune+scale10x": {"scale_lr": 1.0}}


def _data(images: torch.Tensor, labels: torch.Tensor, classes: tuple[int, ...], *, train: int | None,
          val: int, name: str) -> ProxyData:
    """Classes ``classes`` relabelled 0..k-1, ``train`` + ``val`` of them (stratified; None: all)."""
    keep = torch.isin(labels, torch.tensor(classes))
    x, y = images[keep], labels[keep] - min(classes)
    if train is not None:
        _, used = stratified_split(y, (train + val) / len(y), seed=0)
        x, y = x[used], y[used]
    fit, held = stratified_split(y, val / len(y), seed=0)
    tx = x[fit].float() / 255
    return ProxyData(name, x[fit].contiguous(), y[fit].contiguous(), x[held].contiguous(),
                     y[held].contiguous(), len(classes), tuple(tx.mean(dim=(0, 2, 3)).tolist()),
                     tuple(tx.std(dim=(0, 2, 3)).tolist()), True, "fashion-mnist training files")


def _arch(stages, weights=None) -> Architecture:
    return Architecture.create(backbone="resnet_cifar", backbone_args={"depth": 20, "width": 16},
                               stages=stages, in_channels=1, input_size=28, num_classes=5, weights=weights)


def source_weights(path: Path, images, labels, *, epochs: float, smoke: bool) -> None:
    """Train the plain ResNet-20 on the source classes and save its state dict (once)."""
    if path.exists():
        return
    data = _data(images, labels, SOURCE, train=600 if smoke else None, val=200 if smoke else 1000,
                 name="fashion-mnist classes 0-4")
    model = build_model(_arch([StageChoice()] * 3), seed=0)
    start = time.perf_counter()
    r = train_proxy(model, data, budget=TrainBudget(epochs=epochs), seed=0)
    print(f"source task: {len(data.train_x)} images, {epochs:g} epochs, held-out accuracy "
          f"{r.val_accuracy:.4f} ({(time.perf_counter() - start) / 60:.1f} min)", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)


def identity_check(weights) -> dict[str, float]:
    """Largest |logit difference| at step 0, module by module (every stage it fits, each position)."""
    spec = get_backbone_spec("resnet_cifar")
    infos = spec.stages(spec.canonical_settings({"depth": 20, "width": 16}), 28)
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = build_model(_arch([StageChoice()] * 3, weights), seed=0).eval()(x)
        out = {}
        for name in attention_names()[1:]:
            limit = get_attention_spec(name).max_positions
            for position in spec.positions:
                stages = [StageChoice.create(name if fits_positions(i.resolution, limit) else "none",
                                             position=position) for i in infos]
                model = build_model(_arch(stages, weights), seed=0).eval()
                out[f"{name}@{position}"] = (model(x) - plain).abs().max().item()
        odconv = build_model(_arch([StageChoice.create("none", conv="odconv")] * 3, weights), seed=0).eval()
        out["odconv"] = (odconv(x) - plain).abs().max().item()
    return out


def run(archs: list[Architecture], data: ProxyData, weights, *, seeds: int, cache_path: Path) -> dict:
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    for seed in range(seeds):
        for way in WAYS:
            for arch in archs:
                cell = cache.setdefault(way, {}).setdefault(arch.key(), {})
                if str(seed) in cell:
                    continue
                finetune = WAYS[way]
                built = arch if finetune is None else dataclasses.replace(arch, weights=weights)
                start = time.perf_counter()
                budget = TrainBudget(epochs=2, **({} if finetune is None else {"finetune": finetune}))
                r = train_proxy(build_model(built, seed=seed), data, seed=seed, budget=budget)
                cell[str(seed)] = {"accuracy": r.val_accuracy, "seconds": time.perf_counter() - start,
                                   "short": arch.short()}
                cache_path.write_text(json.dumps(cache, indent=1) + "\n")
                print(f"seed {seed} {way:16s} {arch.short():40s} {r.val_accuracy:.4f} "
                      f"({cell[str(seed)]['seconds']:.0f} s)", flush=True)
    return cache


def report(cache: dict, archs: list[Architecture], identity: dict[str, float]) -> dict:
    keys = [a.key() for a in archs]
    out: dict = {"identity_max_logit_diff": identity, "ways": {}}
    print(f"\nidentity at step 0: largest |logit difference| {max(identity.values()):.1e} over "
          f"{len(identity)} module x position cases")
    seeds = {way: min((len(cache.get(way, {}).get(k, {})) for k in keys), default=0) for way in WAYS}
    if min(seeds.values()) < 2:
        return out
    # scratch and finetune take the same steps of the same networks: one compute, the minutes
    # pooled (the trainings ran beside other work, so a way's own wall clock says more about the
    # machine); a frozen way does less per step, but its own wall clock is as noisy: pooled too
    minutes = statistics.fmean(cache[w][k][str(s)]["seconds"] for w in WAYS for k in keys
                               for s in range(seeds[w])) / 60
    print("| training | architectures x seeds | mean accuracy | paired single-seed std | spread of means "
          "| discriminability | min / training (pooled) | disc^2 / min |\n|---|---|---|---|---|---|---|---|")
    for way in WAYS:
        cells = cache[way]
        scores = {k: [cells[k][str(s)]["accuracy"] for s in range(seeds[way])] for k in keys}
        figures = ranking_figures(scores, keys[0])
        own = statistics.fmean(cells[k][str(s)]["seconds"] for k in keys for s in range(seeds[way])) / 60
        mean = statistics.fmean(statistics.fmean(v) for v in scores.values())
        out["ways"][way] = {"accuracies": scores, "seeds": seeds[way], "mean_accuracy": mean,
                            "minutes_per_training": minutes, "own_wall_minutes": own, **figures,
                            "per_minute": figures["discriminability"] ** 2 / minutes}
        print(f"| {way} | {len(keys)} x {seeds[way]} | {100 * mean:.2f}% "
              f"| {100 * figures['paired_sd']:.2f} pt | {100 * figures['spread']:.2f} pt "
              f"| {figures['discriminability']:.2f} | {minutes:.2f} "
              f"| {figures['discriminability'] ** 2 / minutes:.1f} |")
    print("\n| architecture | " + " | ".join(f"{w}: vs none, pts [95%]" for w in WAYS) + " |\n|"
          + "---|" * (1 + len(WAYS)))
    for k in keys[1:]:
        cells = []
        for way in WAYS:
            accs = out["ways"][way]["accuracies"]
            diffs = [100 * (a - p) for a, p in zip(accs[k], accs[keys[0]], strict=True)]
            lo, hi = t_interval(diffs)
            out["ways"][way].setdefault("vs_none", {})[k] = [statistics.fmean(diffs), lo, hi]
            cells.append(f"{statistics.fmean(diffs):+.2f} [{lo:+.2f}, {hi:+.2f}]")
        print(f"| `{cache['scratch'][k]['0']['short']}` | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--source-epochs", type=float, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = Path("/tmp/finetune_smoke") if args.smoke else RESULTS
    source = out_dir / "finetune_source.pt"
    archs = [dataclasses.replace(a, num_classes=5) for a in architectures()[:3 if args.smoke else 8]]
    images, labels, _ = load_split("fashion-mnist", root=None, split="train", download=False)
    if not args.report_only:
        source_weights(source, images, labels, epochs=0.05 if args.smoke else args.source_epochs,
                       smoke=args.smoke)
    weights = resolve_weights("resnet_cifar", str(source))
    cache_path = out_dir / "finetune_cache.json"
    if not args.report_only:
        data = _data(images, labels, TARGET, train=300 if args.smoke else 6000,
                     val=300 if args.smoke else 6000, name="fashion-mnist classes 5-9")
        run(archs, data, weights, seeds=2 if args.smoke else args.seeds, cache_path=cache_path)
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    result = report(cache, archs, identity_check(weights))
    result["source_weights_sha256"] = weights.sha256
    (out_dir / "finetune.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
