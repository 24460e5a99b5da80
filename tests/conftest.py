"""Shared fixtures: small Fashion-MNIST-format data written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_fashion_like

ROOT = Path(__file__).resolve().parents[1]


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
      se: {{reduction: [4, 16]}}
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
