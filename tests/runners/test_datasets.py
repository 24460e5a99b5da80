"""MNIST, CIFAR-10/100 and SVHN through torchvision's classes, on small files in their real formats."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from runners.data import load_full_data, load_proxy_data, load_split
from spaces import dataset_info
from tests.helpers import write_idx

RNG = np.random.default_rng(0)


def write_cifar(root: Path, *, classes: int, n: int = 60) -> None:
    """The python-pickle layout of cifar-10-batches-py / cifar-100-python (str keys, as the
    originals load under torchvision's latin1 decoding)."""
    if classes == 10:
        folder = root / "cifar-10-batches-py"
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        meta, label_key, meta_key = "batches.meta", "labels", "label_names"
    else:
        folder = root / "cifar-100-python"
        names, meta, label_key, meta_key = ["train", "test"], "meta", "fine_labels", "fine_label_names"
    folder.mkdir(parents=True)
    for name in names:
        labels = [int(i % classes) for i in range(n)]
        batch = {"data": RNG.integers(0, 256, (n, 3072), dtype=np.uint8), label_key: labels}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / meta).write_bytes(pickle.dumps({meta_key: [f"c{i}" for i in range(classes)]}))


def write_svhn(root: Path, n: int = 40) -> None:
    """train_32x32.mat / test_32x32.mat: X (32, 32, 3, N) uint8, y (N, 1) with 10 for digit 0."""
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        y = (np.arange(n) % 10 + 1).reshape(n, 1)
        savemat(root / f"{split}_32x32.mat",
                {"X": RNG.integers(0, 256, (32, 32, 3, n), dtype=np.uint8), "y": y})


def write_mnist(root: Path, n: int = 50) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte", RNG.integers(0, 256, (n, 28, 28)), compress=False)
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, compress=False)


@pytest.mark.parametrize(("name", "writer", "shape", "n_train"), [
    ("cifar10", lambda r: write_cifar(r, classes=10), (3, 32, 32), 300),
    ("cifar100", lambda r: write_cifar(r, classes=100, n=200), (3, 32, 32), 200),
    ("svhn", write_svhn, (3, 32, 32), 40),
    ("mnist", write_mnist, (1, 28, 28), 50),
])
def test_torchvision_datasets_load_from_real_formats(tmp_path, name, writer, shape, n_train) -> None:
    writer(tmp_path)
    x, y, source = load_split(name, root=str(tmp_path), split="train", download=False)
    assert x.dtype == torch.uint8 and tuple(x.shape[1:]) == shape and len(x) == n_train
    assert y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) < dataset_info(name).classes
    assert "torchvision" in source
    full = load_full_data(name=name, root=str(tmp_path), download=False)
    assert full.num_classes == dataset_info(name).classes and full.flip == dataset_info(name).flip


def test_svhn_label_10_is_digit_0(tmp_path) -> None:
    write_svhn(tmp_path)
    _, y, _ = load_split("svhn", root=str(tmp_path), split="train", download=False)
    assert y[:10].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]


def test_proxy_split_and_no_flip_for_digits(tmp_path) -> None:
    write_svhn(tmp_path, n=100)
    d = load_proxy_data(name="svhn", root=str(tmp_path), train_subset=None, val_fraction=0.2,
                        download=False)
    assert len(d.train_x) == 80 and len(d.val_x) == 20 and d.in_channels == 3
    assert d.flip is False


def test_missing_torchvision_dataset_says_how_to_provide_it(tmp_path) -> None:
    from runners.data import DatasetNotFound

    with pytest.raises(DatasetNotFound, match=r"cifar10 \(train split\) was not found .*cifar-10-batches-py"):
        load_split("cifar10", root=str(tmp_path), split="train", download=False)
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; valid: fashion-mnist, mnist"):
        load_split("imagenet", root=None, split="train", download=False)
