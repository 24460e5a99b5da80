"""Training images/s: the project's trainer against a plain PyTorch loop, side by side.

    python -m bench.train_throughput [--device cpu|cuda] [--batch-sizes 128,512]
                                     [--modules none,se,eca,gc,ca,cbam] [--repeats 2] [--json PATH]

ResNet-20 (width 16), without attention and with each module in every stage,
on Fashion-MNIST proxy data resident on the device. Per model and batch size:

- ``plain``: the textbook loop, a ``DataLoader`` over a ``TensorDataset`` of
  pre-normalised fp32 tensors on the host, each batch copied to the device
  (shuffled, SGD + Nesterov, label smoothing; no autocast);
- ``eager``: ``train_proxy`` with the step run eagerly (resident uint8 data
  normalised on the device; on CUDA bf16 autocast + channels_last);
- ``graph`` (CUDA only): ``train_proxy`` as the search runs it, the step
  captured in a CUDA graph after 3 warm-up steps and replayed; the capture is
  inside the timed run. Also its validation accuracy against ``eager``'s after
  the same steps from the same initialisation and seed.

Augmentation is off in every column so that all do the same work. Runs of
one model alternate between the columns; the median of ``--repeats`` is
reported. Defaults: on CPU 8,000 images and 1 epoch; on CUDA the default
search's proxy (6,000 training images, 2 epochs) so that the capture's cost
counts as it does in a trial.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]

from models import Architecture, StageChoice, build_model  # noqa: E402
from runners.data import load_proxy_data  # noqa: E402
from runners.trainer import TrainBudget, train_proxy  # noqa: E402


def plain_loop(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: float,
               batch_size: int, device: torch.device) -> float:
    """Images/s of the textbook loop."""
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, drop_last=True)
    steps = max(1, round(epochs * len(loader)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    model.train()
    seen = 0
    start = time.perf_counter()
    while seen < steps * batch_size:
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(xb)
            if seen >= steps * batch_size:
                break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return seen / (time.perf_counter() - start)


def environment(device: torch.device) -> dict:
    env = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": str(device),
           "threads": torch.get_num_threads()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--train-images", type=int, default=None)
    parser.add_argument("--batch-sizes", default="128")
    parser.add_argument("--modules", default="none,se,eca,gc,ca")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    epochs = args.epochs or (2.0 if cuda else 1.0)
    n_train = args.train_images or (6000 if cuda else 8000)
    data = load_proxy_data(name="fashion-mnist", train_subset=2 * n_train, val_fraction=0.5, seed=0,
                           device=device)
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    x_float = ((data.train_x.float() / 255 - mean) / std).cpu()
    y = data.train_y.cpu()
    env = environment(device)
    print(f"{len(y)} training images, {epochs:g} epoch(s), {env}")
    head = "| model | batch | plain loop img/s | attnas eager img/s | eager / plain |"
    rule = "|---|---|---|---|---|"
    if cuda:
        head += " attnas graph img/s | **graph / eager** | graph / plain | accuracy eager / graph |"
        rule += "---|---|---|---|"
    print(head)
    print(rule, flush=True)
    rows = []
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        for attention in args.modules.split(","):
            arch = Architecture.create(backbone="resnet_cifar", backbone_args={"depth": 20, "width": 16},
                                       stages=[StageChoice.create(attention)] * 3, in_channels=1,
                                       input_size=28, num_classes=10)
            plain, eager, graph, acc_eager, acc_graph, paths = [], [], [], [], [], set()
            for _ in range(args.repeats):
                plain.append(plain_loop(build_model(arch, seed=0).to(device), x_float, y,
                                        epochs=epochs, batch_size=bs, device=device))
                for captured, out, acc in ((False, eager, acc_eager), (True, graph, acc_graph)):
                    if captured and not cuda:
                        continue
                    budget = TrainBudget(epochs=epochs, batch_size=bs, augment=False,
                                         cuda_graph=captured)
                    r = train_proxy(build_model(arch, seed=0).to(device), data, seed=0, budget=budget)
                    out.append(r.images_per_second)
                    acc.append(r.val_accuracy)
                    if captured:
                        paths.add(r.step_path if r.graph_fallback is None
                                  else f"{r.step_path} ({r.graph_fallback})")
            row = {"model": f"ResNet-20 + {attention}", "batch_size": bs,
                   "plain": statistics.median(plain), "eager": statistics.median(eager),
                   "accuracy_eager": statistics.median(acc_eager)}
            line = (f"| {row['model']} | {bs} | {row['plain']:.0f} | {row['eager']:.0f} "
                    f"| {row['eager'] / row['plain']:.2f}x |")
            if cuda:
                row.update(graph=statistics.median(graph), accuracy_graph=statistics.median(acc_graph),
                           graph_path=", ".join(sorted(paths)))
                line += (f" {row['graph']:.0f} | **{row['graph'] / row['eager']:.2f}x** "
                         f"| {row['graph'] / row['plain']:.2f}x | {row['accuracy_eager']:.4f} / "
                         f"{row['accuracy_graph']:.4f} ({row['graph_path']}) |")
            rows.append(row)
            print(line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": env, "epochs": epochs,
                                               "train_images": len(y), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
