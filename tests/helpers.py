"""Test helpers: small data in Fashion-MNIST's on-disk format, written by the tests."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import optuna
import torch

from models import Architecture, StageChoice, build_model
from runners.catalog import model_catalog
from runners.latency_profile import PLAIN
from runners.profile_models import make_plan, profile_target
from runners.profile_plan import Item, Plan
from spaces import load_space

TINY_SPACE = """\
name: {name}
backbone: {{name: resnet_cifar, depth: 8, width: 8}}
dataset: {{name: fashion-mnist, train_subset: 400, val_fraction: 0.25, download: false}}
budget: {{epochs: 1, batch_size: 50, lr: 0.05}}
objectives: [accuracy, latency_ms]
latency: {{device: cpu, batch_size: 1, threads: 1, repeats: 5}}
search: {{sampler: tpe, n_trials: {n_trials}, seed: 0}}
confirm: {confirm}
{extra}stages:
  all:
    attention:
      none: {{}}
      se: {{reduction: [4, 16]}}
      eca: {{kernel_size: [3, 5]}}
"""


def stored_space(**blocks: object) -> dict:
    """A space as ``search.run`` stores it in a study (``SpaceConfig.model_dump``), with
    ``blocks`` (``search={...}``, ``confirm=False``, ...) over a one-choice default."""
    from spaces import SpaceConfig

    return SpaceConfig.model_validate({"name": "t", "stages": {"all": {"attention": {"none": {}}}},
                                       **blocks}).model_dump(mode="json")


def write_idx(path: Path, array: np.ndarray, *, compress: bool) -> Path:
    """Write a uint8 IDX file (the MNIST on-disk format)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def make_fashion_like(folder: Path, *, n_train: int = 600, n_test: int = 100,
                      compress: bool = True, seed: int = 0) -> Path:
    """Four IDX files of 28x28 images whose class is learnable from local texture."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(n, 28, 28))
        grid = np.arange(28)
        for i, c in enumerate(labels):
            # a translation-invariant texture per class (what conv + global pooling can see):
            # stripes of period 2..6, horizontal for classes 0-4, vertical for 5-9
            stripes = (grid % (c % 5 + 2) == 0).astype(np.int64) * 150
            images[i] += stripes[:, None] if c < 5 else stripes[None, :]
        write_idx(folder / f"{split}-images-idx3-ubyte", images, compress=compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, compress=compress)
    return folder


def small_model(attention: str = "se") -> torch.nn.Module:
    """A depth-8, width-8 CIFAR ResNet for 28x28 grey images with ``attention`` in every stage."""
    return build_model(small_arch(attention), seed=0)


def small_arch(attention: str = "se") -> Architecture:
    return Architecture.create(
        backbone="resnet_cifar", backbone_args={"depth": 8, "width": 8},
        stages=[StageChoice.create(attention)] * 3, in_channels=1, input_size=28, num_classes=10)


def _fake_cost(item: Item) -> float:
    """A known additive latency: se costs 10% per stage, eca 4%, +1% more in later stages."""
    total = 1.0
    for i, s in enumerate(item.stages):
        total += {"none": 0.0, "se": 0.10, "eca": 0.04}[s["attention"]] + 0.01 * i * (s != PLAIN)
    return total


class FakeTimer:
    """Times nothing: returns ``_fake_cost``; raises KeyboardInterrupt at call ``stop_at``."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.calls: list[str] = []
        self.stop_at = stop_at

    def __call__(self, item: Item) -> tuple[float, float, float, float]:
        if self.stop_at is not None and len(self.calls) == self.stop_at:
            raise KeyboardInterrupt
        self.calls.append(item.key)
        ratio = _fake_cost(item)
        return ratio, 2.0 * ratio, 0.01, 2.0


def profile_plan(tiny_space, check: int = 4) -> Plan:
    """The profile plan of a tiny space (``tiny_space``: the conftest fixture)."""
    space = load_space(tiny_space("p"), catalog=model_catalog())
    return make_plan(space, profile_target(space, in_channels=1, num_classes=10), check=check,
                     seed=0, repeats=5)


class FakeTrainer:
    """Accuracy a known function of the architecture and the rung's budget (epochs, images):
    SE adds most, ECA less, reduction 4 a little more; more epochs and images add a little.
    Records every training as (arch key, epochs, images); ``stop_at`` raises Ctrl-C there."""

    def __init__(self, stop_at: tuple[float, int] | None = None) -> None:
        self.calls: list[tuple[str, float, int]] = []
        self.stop_at = stop_at

    def __call__(self, arch, space, data, *, seed, device, budget=None) -> dict:
        epochs, images = (budget or space.config.budget).epochs, len(data.train_y)
        if self.stop_at == (epochs, images):
            raise KeyboardInterrupt
        self.calls.append((arch.key(), epochs, images))
        quality = sum({"none": 0.0, "se": 0.02, "eca": 0.01}[s.attention]
                      + 0.005 * (dict(s.hparams).get("reduction") == 4) for s in arch.stages)
        acc = 0.5 + quality + 0.01 * epochs + images / 1e5 + 0.0001 * seed
        return {"accuracy": acc, "val_loss": 1 - acc, "train_seconds": 0.01,
                "images_per_second": 1.0, "step_path": "eager", "graph_fallback": None}


def crash_on_se(arch: Architecture, data, **kwargs) -> dict:
    """``runners.trainer.train_architecture``, but the process dies of SIGSEGV for SE in every
    stage: a native crash, as a faulty kernel would cause (run in a training child)."""
    import os
    import signal

    from runners.trainer import train_architecture

    if all(s.attention == "se" for s in arch.stages):
        os.kill(os.getpid(), signal.SIGSEGV)
    return train_architecture(arch, data, **kwargs)


def recorded_study(rows, *, stage_names=("stage1", "stage2", "stage3")) -> optuna.Study:
    """An in-memory study on [accuracy, latency_ratio] as a search records it, one trial per row
    ``(stages, accuracy, raw ms, ratio, the plain backbone's ms timed beside it)``, each stage an
    attention name with its defaults; the all-``none`` row is the no-attention reference. Not
    confirmed (``confirm: false``)."""
    from studies import write_study, write_trial

    study = optuna.create_study(directions=["maximize", "minimize"])
    write_study(study, objectives=["accuracy", "latency_ratio"], stage_names=list(stage_names))
    write_study(study, space=stored_space(search={"seed": 0}, confirm=False))
    for stages, acc, ms, ratio, base in rows:
        arch = Architecture.create(backbone="resnet_cifar", backbone_args={"depth": 8, "width": 8},
                                   stages=[StageChoice.create(a, {}) for a in stages],
                                   in_channels=1, input_size=28, num_classes=10)
        t = study.ask()
        write_trial(t, arch=arch.to_dict(), arch_short=arch.short(), arch_key=arch.key(), accuracy=acc,
                    latency_ms=ms, latency_ratio=ratio,
                    latency={"median_ms": ms, "ratio": ratio, "baseline_median_ms": base})
        if all(a == "none" for a in stages):
            write_trial(t, reference="no attention")
        study.tell(t, [acc, ratio])
    return study
