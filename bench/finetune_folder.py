"""The fine-tuning path as a user takes it, at a larger resolution: weights of a torchvision
ResNet-18, your own folder of RGB images, ``spaces/finetune.yaml``'s settings, a search, and the
winner trained in full (issue 33, section 3: "your own folder of images at their resolution").

    python -m bench.finetune_folder [--size 96] [--device auto] [--time-budget 6m]
    python -m bench.finetune_folder --smoke      # 32 px, a few hundred images: checks the script

Made here, since nothing can be downloaded:

1. *Weights*: torchvision's ResNet-18 with the ImageNet stem (7x7/2 + max-pool, as
   ``IMAGENET1K_V1`` would have it) trained on Fashion-MNIST classes 0-4, upscaled to ``--size``
   px and repeated to 3 channels, for ``--source-epochs``; saved as
   ``torch.save(model.state_dict(), PATH)`` (``OUT/source.pt``).
2. *Your images*: classes 5-9 written as PNG files, ``OUT/images/train/<class>/*.png`` (and a
   ``test`` folder from the test files, used only by the full training), at ``--size`` px.
3. *The search*: ``spaces/finetune.yaml`` with its two lines pointed at them (weights, folder),
   ``search.run --device DEVICE --jobs auto`` under ``--time-budget``; then ``runners.train
   --arch best.yaml`` on the folders (``--full-epochs``, 2 seeds).

Written: ``OUT/finetune_folder.json`` with the search's reported front, verdict and timings
and the full training's test accuracy (mean and 95% interval). A GPU job (``STEPS=finetunefolder
bash bench/gpu.sh``); on a 2-core CPU only ``--smoke`` is sized to finish.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from models import Architecture, StageChoice, build_model, get_backbone_spec
from runners.data import ProxyData
from runners.data.proxy import load_split, stratified_split
from runners.device import resolve_device
from runners.trainer import TrainBudget, train_proxy

ROOT = Path(__file__).resolve().parents[1]
SOURCE, TARGET = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
CLASS_NAMES = {5: "sandal", 6: "shirt", 7: "sneaker", 8: "bag", 9: "ankle_boot"}


def _upscaled(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 1, 28, 28) -> uint8 (N, 3, size, size), bilinear, grey repeated to RGB."""
    out = []
    for chunk in images.split(2048):
        x = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", align_corners=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8).repeat(1, 3, 1, 1))
    return torch.cat(out)


def _pick(labels: torch.Tensor, classes: tuple[int, ...], per_class: int | None) -> torch.Tensor:
    """Indices of ``per_class`` images of each of ``classes`` (stratified, seeded; None: all)."""
    keep = torch.isin(labels, torch.tensor(classes)).nonzero().flatten()
    if per_class is None or per_class * len(classes) >= len(keep):
        return keep
    _, used = stratified_split(labels[keep], per_class * len(classes) / len(keep), seed=0)
    return keep[used]


def source_weights(path: Path, images: torch.Tensor, labels: torch.Tensor, *, size: int,
                   per_class: int | None, epochs: float, device: str) -> dict:
    """Train the plain ResNet-18 (ImageNet stem) on the source classes at ``size`` px; save it."""
    if path.exists():
        return {"reused": str(path)}
    idx = _pick(labels, SOURCE, per_class)
    x, y = _upscaled(images[idx], size), labels[idx]
    fit, held = stratified_split(y, 0.1, seed=0)
    tx = x[fit].float() / 255
    data = ProxyData("fashion-mnist classes 0-4", x[fit].to(device), y[fit].to(device),
                     x[held].to(device), y[held].to(device), 5, tuple(tx.mean(dim=(0, 2, 3)).tolist()),
                     tuple(tx.std(dim=(0, 2, 3)).tolist()), True, "fashion-mnist training files")
    spec = get_backbone_spec("resnet18")
    args = {"stem": "imagenet"}
    stages = [StageChoice()] * len(spec.stages(spec.canonical_settings(args), size))
    arch = Architecture.create(backbone="resnet18", backbone_args=args, stages=stages, in_channels=3,
                               input_size=size, num_classes=5)
    model = build_model(arch, seed=0).to(device)
    start = time.perf_counter()
    r = train_proxy(model, data, budget=TrainBudget(epochs=epochs, batch_size=64, lr=0.05), seed=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    out = {"images": len(fit), "epochs": epochs, "held_out_accuracy": r.val_accuracy,
           "minutes": (time.perf_counter() - start) / 60}
    print(f"source weights: {out}", flush=True)
    return out


def write_folder(root: Path, images: torch.Tensor, labels: torch.Tensor, *, size: int,
                 per_class: int | None) -> int:
    """The target classes as PNG files, ``root/<class name>/<index>.png``; the images written."""
    if root.exists():
        return sum(1 for _ in root.rglob("*.png"))
    idx = _pick(labels, TARGET, per_class)
    x = _upscaled(images[idx], size)
    for i, (img, label) in enumerate(zip(x, labels[idx].tolist(), strict=True)):
        folder = root / CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:05d}.png")
    return len(idx)


def _run(cmd: list[str], cwd: Path, limit: float) -> float:
    start = time.perf_counter()
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True, timeout=limit)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--device", default="auto", help="auto: CUDA when torch sees a GPU")
    parser.add_argument("--out-dir", default="/tmp/attnas-finetune-folder")
    parser.add_argument("--per-class", type=int, default=1200, help="target training images per class")
    parser.add_argument("--source-epochs", type=float, default=5)
    parser.add_argument("--time-budget", default="6m", help="the search's search.time_budget")
    parser.add_argument("--full-epochs", type=float, default=10)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.per_class, args.source_epochs, args.full_epochs = 32, 40, 0.2, 0.2
        args.time_budget = "90s"
    args.device = str(resolve_device(args.device)[0])
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images, labels, _ = load_split("fashion-mnist", root=None, split="train", download=False)
    test_images, test_labels, _ = load_split("fashion-mnist", root=None, split="test", download=False)
    result: dict = {"size": args.size, "device": args.device}
    result["source"] = source_weights(out / "source.pt", images, labels, size=args.size,
                                      per_class=200 if args.smoke else None,
                                      epochs=args.source_epochs, device=args.device)
    result["train_images"] = write_folder(out / "images/train", images, labels, size=args.size,
                                          per_class=args.per_class)
    result["test_images"] = write_folder(out / "images/test", test_images, test_labels, size=args.size,
                                         per_class=20 if args.smoke else None)
    space = yaml.safe_load((ROOT / "spaces" / "finetune.yaml").read_text())
    space["backbone"]["weights"] = str(out / "source.pt")
    space["dataset"].update(path=str(out / "images/train"), image_size=args.size)
    space["search"]["time_budget"] = args.time_budget
    if args.smoke:
        space["search"]["n_trials"], space["confirm"] = 3, {"seeds": 2, "max_architectures": 2}
    (out / "space.yaml").write_text(yaml.safe_dump(space, sort_keys=False))
    py = sys.executable
    result["search_seconds"] = _run([py, "-m", "search.run", "--space", str(out / "space.yaml"),
                                     "--device", args.device, "--jobs", "auto", "--quiet",
                                     "--out", str(out / "run")], ROOT, 3600)
    best = yaml.safe_load((out / "run/best.yaml").read_text())
    result["best"] = {k: best[k] for k in ("summary", "verdict", "detectable_difference")}
    result["best"]["accuracy"] = best["metrics"]["accuracy"]
    result["full_training_seconds"] = _run(
        [py, "-m", "runners.train", "--arch", str(out / "run/best.yaml"), "--dataset", "folder",
         "--path", str(out / "images/train"), "--test-path", str(out / "images/test"),
         "--epochs", str(args.full_epochs), "--seeds", "2", "--device", args.device,
         "--out", str(out / "full")], ROOT, 3600)
    report = yaml.safe_load((out / "full/train.yaml").read_text())
    result["full_training"] = {k: report.get(k) for k in ("test_accuracy", "test_accuracy_interval95")}
    (out / "finetune_folder.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
