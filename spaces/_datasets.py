"""The supported datasets: one table that the schema, the data loaders, the dry run's
estimate and the reports all read (torch-free)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# the files an image folder's classes hold: torchvision.datasets.folder.IMG_EXTENSIONS
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
FOLDER = "folder"  # dataset name for a folder of your own images (``runners.data.folder``)
FOLDER_IMAGE_SIZE = 32  # a folder's default image side (dataset.image_size)
FOLDER_FLIP = True  # a folder's default for horizontal flips (dataset.flip)


# how the loaders read a built-in dataset (runners.data): attnas's own IDX reader, or
# torchvision's class holding a uint8 tensor (N, H, W) with targets, a NumPy array (N, H, W, C)
# with targets and a meta file of class names, or a NumPy array (N, C, H, W) with labels and
# train/test given as a split
Storage = Literal["idx", "tensor-nhw", "numpy-nhwc", "numpy-nchw-split"]


@dataclass(frozen=True)
class DatasetInfo:
    """Shape, size and augmentation facts of a supported dataset, and how it is read."""

    title: str  # as a person writes it
    channels: int
    size: int  # image side in pixels
    classes: int
    flip: bool  # horizontal flips keep the label (not for digits)
    train_images: int  # in the official training split
    torchvision_class: str = ""  # its class in torchvision.datasets (its layout on disk, names)
    storage: Storage = "idx"


DATASETS: dict[str, DatasetInfo] = {
    "fashion-mnist": DatasetInfo("Fashion-MNIST", 1, 28, 10, True, 60_000, "FashionMNIST", "idx"),
    "mnist": DatasetInfo("MNIST", 1, 28, 10, False, 60_000, "MNIST", "tensor-nhw"),
    "cifar10": DatasetInfo("CIFAR-10", 3, 32, 10, True, 50_000, "CIFAR10", "numpy-nhwc"),
    "cifar100": DatasetInfo("CIFAR-100", 3, 32, 100, True, 50_000, "CIFAR100", "numpy-nhwc"),
    "svhn": DatasetInfo("SVHN", 3, 32, 10, False, 73_257, "SVHN", "numpy-nchw-split"),
}
DEFAULT_DATASET = next(iter(DATASETS))  # the first: the default of dataset.name and --dataset


def dataset_info(name: str) -> DatasetInfo:
    """Raises ValueError for an unknown dataset, listing the supported ones (a folder of your
    own images has no fixed facts: ``DatasetConfig.info()`` reads them from the folder)."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}, or "
                         f"{FOLDER} with a path") from None


def list_image_folder(root: Path) -> dict[str, list[Path]]:
    """``root``'s class sub-folders (sorted, hidden ones skipped) and each one's image files
    (sorted, found recursively); empty when ``root`` is not a folder."""
    if not root.is_dir():
        return {}
    classes = sorted(d.name for d in os.scandir(root) if d.is_dir() and not d.name.startswith("."))
    return {c: sorted(Path(top) / f for top, _, files in os.walk(root / c) for f in files
                      if f.lower().endswith(IMAGE_EXTENSIONS)) for c in classes}


def held_out(n: int, fraction: float) -> int:
    """Images a stratified split holds out of ``n`` (per class, rounded; summed over classes
    this is within a few images of ``round(n * fraction)``, which is what estimates use)."""
    return max(1, int(round(n * fraction)))
