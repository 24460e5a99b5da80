"""Shared fixtures: small Fashion-MNIST-format data written by the tests themselves."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


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
    """Four IDX files of 28x28 images whose class is learnable (a bright band per class)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 * c + 4: 2 * c + 7, 4:24] += 150
        write_idx(folder / f"{split}-images-idx3-ubyte", images, compress=compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, compress=compress)
    return folder


@pytest.fixture()
def fashion_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Small learnable data in Fashion-MNIST's format, found through ATTNAS_DATA."""
    folder = make_fashion_like(tmp_path / "fmnist")
    monkeypatch.setenv("ATTNAS_DATA", str(folder))
    from runners import data

    data._CACHE.clear()
    return folder


TINY_SPACE = """\
name: {name}
backbone: {{name: resnet_cifar, depth: 8, width: 8}}
dataset: {{name: fashion-mnist, train_subset: 400, val_fraction: 0.25, download: false}}
budget: {{epochs: 1, batch_size: 50, lr: 0.05}}
objectives: [accuracy, latency_ms]
latency: {{device: cpu, batch_size: 1, threads: 1, repeats: 5}}
search: {{sampler: tpe, n_trials: {n_trials}, seed: 0}}
{extra}stages:
  all:
    attention:
      none: {{}}
      se: {{reduction: [4, 8]}}
      eca: {{kernel_size: [3, 5]}}
"""


@pytest.fixture()
def tiny_space(tmp_path: Path):
    """Factory: write a tiny space file and return its path."""

    def make(name: str = "t", n_trials: int = 4, extra: str = "") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(TINY_SPACE.format(name=name, n_trials=n_trials, extra=extra))
        return path

    return make
