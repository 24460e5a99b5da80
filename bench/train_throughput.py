"""Training images/s: the project's trainer against a plain PyTorch loop, side by side.

    python bench/train_throughput.py [--epochs 1] [--repeats 2] [--device cpu]

For ResNet-20 (width 16) without attention and with SE, ECA, GC and CA in every
stage, on the default proxy data (6,000 Fashion-MNIST images): the plain loop
is a ``DataLoader`` over a ``TensorDataset`` of pre-normalised float tensors
(fp32, shuffled, batch 128, SGD + Nesterov, label smoothing); the project's
``train_proxy`` slices a resident uint8 tensor and normalises on the device
(augmentation off, so both do the same work; a third column has it on). Both
start from the same initialisation; runs alternate, and the median of
``--repeats`` is reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models import Architecture, StageChoice, build_model  # noqa: E402
from runners.data import load_proxy_data  # noqa: E402
from runners.trainer import TrainBudget, train_proxy  # noqa: E402


def plain_loop(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int,
               device: torch.device) -> float:
    """Images/s of the textbook loop."""
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True, drop_last=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    model.train()
    seen = 0
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(xb)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    data = load_proxy_data(name="fashion-mnist", train_subset=8000, val_fraction=0.25, seed=0, device=device)
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    x_float = ((data.train_x.float() / 255 - mean) / std).cpu()
    y = data.train_y.cpu()
    print(f"{len(y)} images, {args.epochs} epoch(s), {torch.get_num_threads()} threads, {device}")
    print("| model | plain loop img/s | attnas trainer img/s | ratio | attnas + augment img/s |")
    print("|---|---|---|---|---|")
    for attention in ("none", "se", "eca", "gc", "ca"):
        arch = Architecture.create(backbone="resnet_cifar", backbone_args={"depth": 20, "width": 16},
                                   stages=[StageChoice.create(attention)] * 3, in_channels=1,
                                   input_size=28, num_classes=10)
        plain, ours, ours_aug = [], [], []
        for _ in range(args.repeats):
            torch.manual_seed(0)
            plain.append(plain_loop(build_model(arch).to(device), x_float, y, epochs=args.epochs,
                                    device=device))
            for aug, out in ((False, ours), (True, ours_aug)):
                torch.manual_seed(0)
                r = train_proxy(build_model(arch).to(device), data, seed=0,
                                budget=TrainBudget(epochs=args.epochs, augment=aug))
                out.append(r.images_per_second)
        p, o, a = (statistics.median(v) for v in (plain, ours, ours_aug))
        print(f"| ResNet-20 + {attention} | {p:.0f} | {o:.0f} | {o / p:.2f}x | {a:.0f} |", flush=True)


if __name__ == "__main__":
    main()
