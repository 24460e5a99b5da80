"""What each attention module, convolution and backbone costs, and what the proxy says of it.

    python -m bench.zoo_costs [--part modules|backbones|all] [--device cpu] [--no-train]

Modules: ResNet-20 (width 16) on Fashion-MNIST at 28 px with one module (paper
defaults) in every block of every stage -- non-local only in the stages it is
allowed in (14x14 and 7x7) -- and ODConv replacing every 3x3 conv. For each:
parameters and FLOPs (batch 1) as multiples of the plain network, latency as
``latency_ratio`` (the plain network is timed in alternating blocks beside it in
the same process, batch 1, 1 thread: the baseline the search uses), training
images/s, and the validation accuracy after the default space's proxy budget
(``spaces/attention.yaml``: 6,000 training images, 2 epochs, seed 0).

Backbones: each registered backbone without attention, the same input:
parameters, FLOPs, batch-1 latency, training seconds per step at batch 128,
and (``resnet_cifar`` and ``mobilenet_v2``, the ones a CPU proxy can afford)
the proxy accuracy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from models import Architecture, StageChoice, build_model  # noqa: E402
from models.attention import attention_names, get_attention_spec  # noqa: E402
from models.backbones import backbone_names, get_backbone_spec  # noqa: E402
from runners.catalog import model_catalog  # noqa: E402
from runners.data import load_proxy_data  # noqa: E402
from runners.measure import count_flops, count_params, measure_latency  # noqa: E402
from runners.trainer import TrainBudget, seconds_per_step, train_proxy  # noqa: E402
from spaces import load_space  # noqa: E402

SHAPE = {"in_channels": 1, "input_size": 28, "num_classes": 10}
CHEAP_BACKBONES = ("resnet_cifar", "mobilenet_v2")


def arch_for(backbone: str, settings: dict, stage: callable) -> Architecture:
    spec = get_backbone_spec(backbone)
    canonical = spec.canonical_settings(settings)
    stages = spec.stages(canonical, SHAPE["input_size"])
    return Architecture.create(backbone=backbone, backbone_args=canonical,
                               stages=[stage(s) for s in stages], **SHAPE)


def module_archs() -> list[tuple[str, Architecture]]:
    out = []
    for name in attention_names():
        limit = get_attention_spec(name).max_positions

        def stage(info, name=name, limit=limit) -> StageChoice:
            fits = limit is None or info.resolution ** 2 <= limit
            return StageChoice.create(name if fits else "none")

        label = name if limit is None else f"{name} (stages with H*W <= {limit})"
        out.append((label, arch_for("resnet_cifar", {"depth": 20, "width": 16}, stage)))
    out.append(("odconv (n=4) convs", arch_for("resnet_cifar", {"depth": 20, "width": 16},
                                                lambda info: StageChoice.create("none", conv="odconv"))))
    return out


def proxy(arch: Architecture, data, budget: TrainBudget, seed: int, device: torch.device):
    torch.manual_seed(seed)
    return train_proxy(build_model(arch).to(device), data, budget=budget, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("modules", "backbones", "all"), default="all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-train", action="store_true", help="costs only, no proxy training")
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg = load_space("attention.yaml", catalog=model_catalog()).config
    seed = cfg.search.seed
    budget = cfg.budget
    data = None if args.no_train else load_proxy_data(**cfg.dataset.model_dump(), seed=seed,
                                                      device=device)
    print(f"# torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads; "
          f"proxy: {cfg.dataset.train_subset} images ({1 - cfg.dataset.val_fraction:.0%} train), "
          f"{cfg.budget.epochs:g} epochs, seed {seed}")

    if args.part in ("modules", "all"):
        rows = module_archs()
        plain = build_model(rows[0][1]).to(device)
        p0, f0 = count_params(plain), count_flops(plain, (1, 1, 28, 28))
        print("\n| module in every stage | params | x plain | FLOPs | x plain | latency_ratio "
              "(IQR/median) | train img/s | proxy acc |")
        print("|---|---|---|---|---|---|---|---|")
        for label, arch in rows:
            model = build_model(arch).to(device)
            p, f = count_params(model), count_flops(model, (1, 1, 28, 28))
            lat = measure_latency(model, (1, 1, 28, 28), threads=1, baseline=plain, repeats=21)
            r = None if data is None else proxy(arch, data, budget, seed, device)
            acc = "—" if r is None else f"{r.val_accuracy:.4f}"
            ips = "—" if r is None else f"{r.images_per_second:,.0f}"
            print(f"| {label} | {p:,} | {p / p0:.2f} | {f:,} | {f / f0:.2f} | "
                  f"{lat.ratio:.3f} ({lat.rel_iqr:.1%}) | {ips} | {acc} |", flush=True)

    if args.part in ("backbones", "all"):
        print("\n| backbone (default settings, no attention) | params | FLOPs | latency ms (b=1) "
              "| train s/step (b=128) | proxy acc |")
        print("|---|---|---|---|---|---|")
        for name in backbone_names():
            arch = arch_for(name, {}, lambda info: StageChoice())
            model = build_model(arch).to(device)
            lat = measure_latency(model, (1, 1, 28, 28), threads=1, repeats=11)
            step = seconds_per_step(build_model(arch).to(device), batch_size=128, device=device,
                                    **SHAPE)
            acc = "—"
            if data is not None and name in CHEAP_BACKBONES:
                acc = f"{proxy(arch, data, budget, seed, device).val_accuracy:.4f}"
            print(f"| {name} {dict(arch.backbone_args)} | {count_params(model):,} | "
                  f"{count_flops(model, (1, 1, 28, 28)):,} | {lat.median_ms:.2f} | {step:.3f} | {acc} |",
                  flush=True)


if __name__ == "__main__":
    main()
