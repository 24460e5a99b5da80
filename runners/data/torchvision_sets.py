"""MNIST, CIFAR-10/100 and SVHN through torchvision's own dataset classes, from files in
torchvision's layout (presence is checked, not the official MD5 sums)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torch import Tensor

from runners.data.idx import DatasetNotFound
from spaces import dataset_info


def load_torchvision(name: str, *, root: str | None, split: str,
                       download: bool) -> tuple[Tensor, Tensor, str]:
    """MNIST, CIFAR-10/100 and SVHN through torchvision's own dataset classes.

    The files are looked for in their torchvision layout under ``root``
    (default ``$ATTNAS_DATA`` or ``./data``). Presence is checked, not the
    official MD5 sums, so that a converted or re-packed copy (and the small
    files the tests write in the same formats) load too.
    """
    from torchvision import datasets

    base = root or os.environ.get("ATTNAS_DATA") or "data"
    train = split == "train"

    class _Present:
        def _check_integrity(self) -> bool:  # CIFAR, SVHN: the files are there
            return _files_present(self)

        def _check_exists(self) -> bool:  # MNIST
            return _files_present(self)

        def _load_meta(self) -> None:  # CIFAR: torchvision's version checks the meta file's MD5
            with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _files_present(ds) -> bool:
        if isinstance(ds, datasets.CIFAR10):
            folder = Path(ds.root) / ds.base_folder
            return all((folder / f).is_file() for f, _ in ds.train_list + ds.test_list)
        if isinstance(ds, datasets.SVHN):
            return (Path(ds.root) / ds.filename).is_file()
        raw = Path(ds.raw_folder)
        return all((raw / Path(u).name).with_suffix("").is_file() or (raw / Path(u).name).is_file()
                   for u, _ in ds.resources)

    info = dataset_info(name)
    original = getattr(datasets, info.torchvision_class)
    # same class name: MNIST derives its folder (root/MNIST/raw) from it
    cls = type(original.__name__, (_Present, original), {})
    try:
        if info.storage == "numpy-nchw-split":
            ds = cls(base, split="train" if train else "test", download=download)
            x, y = torch.from_numpy(ds.data), torch.from_numpy(ds.labels).long()
        elif info.storage == "tensor-nhw":
            ds = cls(base, train=train, download=download)
            x, y = ds.data.unsqueeze(1), ds.targets.long()
        else:  # numpy-nhwc
            ds = cls(base, train=train, download=download)
            x = torch.from_numpy(ds.data).permute(0, 3, 1, 2)  # NHWC -> NCHW
            y = torch.tensor(ds.targets, dtype=torch.long)
    except (RuntimeError, OSError) as e:
        raise DatasetNotFound(
            f"{name} ({split} split) was not found under {base} in torchvision's layout "
            f"({' '.join(str(e).split())[:200]}). Provide it by copying the files there "
            f"(e.g. {base}/cifar-10-batches-py/ for CIFAR-10, {base}/train_32x32.mat for SVHN, "
            f"{base}/MNIST/raw/ for MNIST), pointing the space file's dataset.root or "
            f"ATTNAS_DATA at them, or allowing dataset.download: true with network access."
        ) from None
    return x.contiguous(), y, f"{base} (torchvision {original.__name__})"


def class_names(name: str, *, root: str | None) -> tuple[str, ...]:
    """The class names of a built-in dataset, in label order (what ``model.pt`` records).

    Fashion-MNIST and MNIST: torchvision's lists; CIFAR-10/100: the names in the dataset's own
    meta file (read from ``root``, where training read the images); SVHN: the digits (label 0 is
    the digit 0, as torchvision maps it).
    """
    from torchvision import datasets

    info = dataset_info(name)
    cls = getattr(datasets, info.torchvision_class)
    if info.storage in ("idx", "tensor-nhw"):  # the class lists them
        return tuple(cls.classes)
    if info.storage == "numpy-nchw-split":  # SVHN's labels are the digits
        return tuple(str(d) for d in range(info.classes))
    base = root or os.environ.get("ATTNAS_DATA") or "data"
    with open(Path(base) / cls.base_folder / cls.meta["filename"], "rb") as f:
        return tuple(pickle.load(f, encoding="latin1")[cls.meta["key"]])
