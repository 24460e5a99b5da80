"""Full training of an exported architecture, and the first use of the test set.

    python -m runners.train --arch best.yaml [--epochs 30] [--seeds 1] [--batch-size B] [--lr LR]
                            [--ema-decay D] [--tta-flip] [--erase-prob P]
                            [--dataset fashion-mnist] [--out DIR] [--device auto|cpu|cuda] [--seed 0]
    python -m runners.train --arch best.yaml --dataset folder --path DIR --test-path DIR

Trains on the whole training set with the standard schedule (SGD + Nesterov,
warm-up + cosine, label smoothing, crop + flip) and the searched budget's settings from the
architecture file (batch size, learning rate, weight decay, ...; flags override them, and the
run prints what it used and where each value came from), prints one line per epoch, and
reports test accuracy: with ``--seeds N`` (N >= 2) the mean over seeds and its 95% t-interval.
Writes ``DIR/model-seed<S>.pt`` per seed (state dict, architecture, and what deployment needs:
class names in label order, input size and channels, normalisation, the preprocessing in
words; ``classify`` uses them) and ``DIR/train.yaml`` (architecture, settings and their
sources, every seed's losses and test accuracy). The levers of the trainer are settings here
too, all off unless given: ``--ema-decay`` trains an exponential moving average of the
weights (with the BatchNorm statistics) and evaluates and saves it, ``--tta-flip`` scores each
test image with its mirror, ``--erase-prob`` adds random erasing (``runners.augment``).

Interrupted (Ctrl-C, a crash), the same command continues: each seed writes
``DIR/checkpoint-seed<S>.pt`` after every epoch and resumes from it to the result an
uninterrupted run reaches; a seed whose weights file is there with the same settings is not
trained again. Reference points for Fashion-MNIST test accuracy: a two-conv network 91.6%,
ResNet-18 94.9%, MobileNet 95.0%, WRN-28-10 95.9% (96.35% with random erasing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

from errors import UserError
from models import Architecture, build_model, load_architecture, searched_budget
from runners.data import load_full_data
from runners.data.folder import decode_image
from runners.device import DEVICES, resolve_device
from runners.trainer import TrainBudget, TrainingDiverged, seconds_per_step, train_proxy
from spaces import DATASETS, DEFAULT_DATASET, FOLDER, DefaultsOnce, budget_record, did_you_mean
from stats import t_interval

# the searched budget's settings that full training takes from the architecture file: how a
# step is taken, not how long the proxy trained (epochs) or where (device), nor the
# proxy-only levers (ema_decay, tta_flip score the proxy; compile and cuda_graph are speed)
FROM_SEARCH = ("batch_size", "lr", "momentum", "weight_decay", "label_smoothing", "augment",
               "crop_padding", "erase_prob", "finetune")
# full training's own levers: off unless a flag sets them (the proxy's ema_decay averages over a
# horizon meant for a two-epoch training)
LEVERS = ("ema_decay", "tta_flip")


def full_settings(arch_path: Path, *, epochs: float,
                  overrides: dict[str, object] | None = None) -> tuple[TrainBudget, dict[str, str]]:
    """The budget of a full training and where each value came from: ``overrides`` (flags),
    else the architecture file's searched budget (``source.budget``, for ``FROM_SEARCH``), else
    the trainer's default."""
    searched = searched_budget(arch_path)
    values: dict[str, object] = {"epochs": epochs}
    sources = {"epochs": "--epochs"}
    for key in FROM_SEARCH:
        if searched is not None and key in searched[1]:
            values[key], sources[key] = getattr(searched[0], key), f"the searched budget ({arch_path.name})"
    for key, value in (overrides or {}).items():
        values[key], sources[key] = value, "--" + key.replace("_", "-")
    budget = TrainBudget(**values)
    return budget, {k: sources.get(k, "default") for k in ("epochs", *FROM_SEARCH, *LEVERS)}


def preprocessing_words(arch: Architecture, mean: tuple[float, ...], std: tuple[float, ...]) -> str:
    grey = arch.in_channels == 1
    return (f"decode the image, convert to {'greyscale (L)' if grey else 'RGB'}, resize so that the "
            f"shorter side is {arch.input_size} px (bilinear, antialiased), centre-crop "
            f"{arch.input_size}x{arch.input_size}; uint8 (C, H, W) -> float: (x / 255 - mean) / std "
            f"per channel with mean {list(mean)} and std {list(std)}; batch (N, C, H, W)")


def train_full(arch_path: Path, *, epochs: float, out: Path, dataset: str = DEFAULT_DATASET,
               device: str = "cpu", seeds: tuple[int, ...] = (0,), budget: TrainBudget | None = None,
               overrides: dict[str, object] | None = None, root: str | None = None,
               quiet: bool = False, path: str | None = None, test_path: str | None = None) -> dict:
    """Train the architecture in ``arch_path`` in full, once per seed; write one weights file per
    seed and a report to ``out``.

    Returns:
        The report written to ``out/train.yaml``.

    Raises:
        ValueError: not an architecture file, an unknown dataset, a setting out of range, or
            input shape/classes that do not match the dataset.
        DatasetNotFound: the dataset is not available.
    """
    arch = load_architecture(arch_path)
    if budget is None:
        budget, sources = full_settings(arch_path, epochs=epochs, overrides=overrides)
    else:
        sources = {k: "given" for k in ("epochs", *FROM_SEARCH, *LEVERS)}
    # a folder is decoded at the size and channels the architecture was searched with
    data = load_full_data(name=dataset, root=root, device=device, path=path, test_path=test_path,
                          image_size=arch.input_size, channels=arch.in_channels, progress=not quiet)
    if (data.in_channels, data.input_size, data.num_classes) != (
            arch.in_channels, arch.input_size, arch.num_classes):
        raise ValueError(
            f"{arch_path} is built for {arch.in_channels}x{arch.input_size}px, "
            f"{arch.num_classes} classes; {dataset} has {data.in_channels}x{data.input_size}px, "
            f"{data.num_classes} classes")
    if not quiet:
        print("settings: " + ", ".join(f"{k} {getattr(budget, k)} ({sources[k]})" for k in sources),
              flush=True)
        if arch.weights is not None:
            print(f"fine-tuning from {arch.weights.path} (sha256 {arch.weights.sha256[:12]}…): the body "
                  f"at lr {budget.finetune.pretrained_lr:g}, the new modules and head at lr {budget.lr:g}"
                  + (f"; the inserted modules' identity scales at lr {budget.finetune.scale_lr:g}"
                     if budget.finetune.scale_lr is not None else "")
                  + (f"; the stem and the first {budget.finetune.freeze} stage(s) frozen as loaded"
                     if budget.finetune.freeze else ""), flush=True)
        steps = budget.steps(len(data.train_x))
        per_step = seconds_per_step(build_model(arch), batch_size=budget.batch_size,
                                    in_channels=arch.in_channels, input_size=arch.input_size,
                                    num_classes=arch.num_classes, device=torch.device(device))
        print(f"estimated: ~{steps * per_step / 60:.1f} min per seed on {device} ({steps} steps x "
              f"{per_step * 1e3:.0f} ms, timed here on a few steps), {len(seeds)} seed(s)", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in seeds:
        runs.append(_train_one(arch, data, budget, seed=seed, out=out, quiet=quiet))
    accs = [r["test_accuracy"] for r in runs]
    interval = t_interval(accs)
    report = {
        "architecture": arch.to_dict(),
        "summary": arch.short(),
        "source": str(arch_path),
        "dataset": dataset,
        "data": data.name,
        "data_source": data.source,
        "train_images": len(data.train_x),
        "test_images": len(data.val_x),
        "budget": budget.model_dump(exclude={"device"}),  # the device is the report's own key
        "settings_from": sources,
        "device": device,
        "seeds": [r["seed"] for r in runs],
        "test_accuracy": sum(accs) / len(accs),  # the mean over seeds
        "test_accuracy_interval95": None if interval is None else list(interval),
        "runs": runs,
    }
    (out / "train.yaml").write_text(yaml.safe_dump(report, sort_keys=False))
    return report


def _train_one(arch: Architecture, data, budget: TrainBudget, *, seed: int, out: Path,
               quiet: bool) -> dict:
    weights, checkpoint = f"model-seed{seed}.pt", out / f"checkpoint-seed{seed}.pt"
    settings = {"budget": budget_record(budget), "data": data.name,
                "train_images": len(data.train_x), "architecture": arch.to_dict()}
    if (out / weights).exists():  # a seed finished before, with these settings: not trained again
        done = torch.load(out / weights, map_location="cpu", weights_only=True)
        if done.get("run") and done.get("settings") == settings:
            if not quiet:
                print(f"seed {seed}: trained before ({out / weights}), test accuracy "
                      f"{done['run']['test_accuracy']:.4f}", flush=True)
            return done["run"]
    model = build_model(arch, seed=seed).to(data.train_x.device)
    start = time.perf_counter()

    def progress(epoch: int, total: int, loss: float) -> None:
        if not quiet:
            print(f"seed {seed} epoch {epoch:>3}/{total}  train loss {loss:.4f}  "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)

    if checkpoint.exists() and not quiet:
        print(f"seed {seed}: continuing from {checkpoint}", flush=True)
    # data.val_* is the test split here; with ema_decay the model holds the averaged weights,
    # which are the ones scored and saved; tta_flip scores each test image with its mirror
    result = train_proxy(model, data, budget=budget, seed=seed, on_epoch=progress, checkpoint=checkpoint)
    run = {"seed": seed, "test_accuracy": result.val_accuracy, "test_loss": result.val_loss,
           "epoch_train_loss": list(result.epoch_losses), "train_seconds": result.train_seconds,
           "weights": weights}
    torch.save({"state_dict": model.state_dict(), "architecture": arch.to_dict(),
                "class_names": list(data.class_names), "in_channels": arch.in_channels,
                "input_size": arch.input_size, "mean": list(data.mean), "std": list(data.std),
                "preprocessing": preprocessing_words(arch, data.mean, data.std),
                "seed": seed, "test_accuracy": result.val_accuracy, "tta_flip": budget.tta_flip,
                "settings": settings, "run": run}, out / weights)
    checkpoint.unlink(missing_ok=True)  # the weights file now holds the finished seed
    if not quiet:
        print(f"seed {seed}: test accuracy {result.val_accuracy:.4f}", flush=True)
    return run


def load_trained(path: str | Path, *, device: str = "cpu") -> torch.nn.Module:
    """Rebuild a model from a weights file written by ``train_full`` and load its weights."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    # a network fine-tuned from backbone weights needs their structure, not their file
    model = build_model(Architecture.from_dict(ckpt["architecture"]), load_weights=False)
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()


@torch.inference_mode()
def classify(weights: str | Path, image: str | Path, *, top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` classes of one image file and their probabilities, preprocessed as the
    weights file says (the decode of a folder dataset: ``runners.data.folder.decode_image``)."""
    ckpt = torch.load(weights, map_location="cpu", weights_only=True)
    model = load_trained(weights)
    x = decode_image(Path(image), ckpt["input_size"], ckpt["in_channels"]).float().div_(255)
    mean = torch.tensor(ckpt["mean"]).view(-1, 1, 1)
    std = torch.tensor(ckpt["std"]).view(-1, 1, 1)
    probs = model(((x - mean) / std).unsqueeze(0)).softmax(1)[0]
    names = ckpt["class_names"] or [str(i) for i in range(len(probs))]
    p, i = probs.topk(min(top, len(probs)))
    return [(names[k], float(v)) for v, k in zip(p.tolist(), i.tolist(), strict=True)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m runners.train", description=__doc__.split("\n")[0],
                                formatter_class=DefaultsOnce)
    p.add_argument("--arch", required=True, help="architecture file written by search.export")
    p.add_argument("--epochs", type=float, default=30, help="epochs over the full training set")
    p.add_argument("--dataset", default=DEFAULT_DATASET,
                   help=f"one of {', '.join([*DATASETS, FOLDER])} (default: {DEFAULT_DATASET})")
    p.add_argument("--out", default=None, help="default: <arch file stem>-trained/ beside it")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto: CUDA when torch sees a GPU, else the CPU")
    p.add_argument("--seed", type=int, default=0,
                   help="initialisation, data order and augmentation of the first seed")
    p.add_argument("--seeds", type=int, default=1,
                   help="trainings, at seeds SEED, SEED+1, ...: 2 or more report the mean test "
                        "accuracy with a 95%% t-interval")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default: the architecture file's searched budget, else 128")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate (default: the architecture file's searched budget, else 0.1)")
    p.add_argument("--ema-decay", type=float, default=None,
                   help="evaluate and save an exponential moving average of the weights (e.g. 0.999; "
                        "default 0: the last weights)")
    p.add_argument("--tta-flip", action="store_true",
                   help="score each test image together with its horizontal mirror")
    p.add_argument("--erase-prob", type=float, default=None,
                   help="random erasing: the share of training images that get a box of random "
                        "pixels (0.5 in the Random Erasing paper; default: the searched budget, else 0)")
    p.add_argument("--path", default=None, help="--dataset folder: the training images, DIR/<class>/<image>")
    p.add_argument("--test-path", default=None,
                   help="--dataset folder: the test images, same classes, never seen by the search")
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.dataset not in (*DATASETS, FOLDER):
        p.error(f"unknown dataset {args.dataset!r}{did_you_mean(args.dataset, [*DATASETS, FOLDER])}; "
                f"allowed: {', '.join([*DATASETS, FOLDER])}")
    if args.dataset != "folder" and (args.path or args.test_path):
        p.error(f"--path and --test-path are for --dataset folder; {args.dataset} reads its own "
                "files, with its own test split")
    arch_path = Path(args.arch)
    out = Path(args.out) if args.out else arch_path.with_name(f"{arch_path.stem}-trained")
    try:  # the one boundary: a user's mistake is one line and exit 2
        device, why = resolve_device(args.device)
        print(f"training on {why}")
        overrides = {k: v for k, v in (("batch_size", args.batch_size), ("lr", args.lr),
                                       ("ema_decay", args.ema_decay), ("erase_prob", args.erase_prob),
                                       ("tta_flip", args.tta_flip or None)) if v is not None}
        report = train_full(arch_path, epochs=args.epochs, out=out, dataset=args.dataset,
                            device=str(device), seeds=tuple(range(args.seed, args.seed + args.seeds)),
                            overrides=overrides, path=args.path, test_path=args.test_path)
    # an architecture file that is not there or not one is a FileNotFoundError or ValueError of
    # models.load_architecture; every other mistake is a UserError
    except (UserError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"error: {e}; try a lower learning rate", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished seeds are in {out}/model-seed<S>.pt, the one in progress in "
              f"its checkpoint-seed<S>.pt as of its last finished epoch; the same command "
              "continues from there", file=sys.stderr)
        return 130
    ci = report["test_accuracy_interval95"]
    spread = (f" (mean of {len(report['seeds'])} seeds, 95% interval [{ci[0]:.4f}, {ci[1]:.4f}])"
              if ci else " (one seed: --seeds 2 or more gives an interval)")
    print(f"test accuracy {report['test_accuracy']:.4f}{spread} {report['summary']}; wrote "
          f"{', '.join(str(out / r['weights']) for r in report['runs'])} and {out / 'train.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
