"""Fashion-MNIST's IDX files: where they are looked for, how they are read, and the one
message when they are nowhere (``DatasetNotFound``, also raised by ``runners.data.torchvision_sets``).

Looked for, in order: the ``root`` given in the space file, ``$ATTNAS_DATA``, ``./data``
(also ``./data/FashionMNIST/raw``, torchvision's layout), ``/usr/share/datasets/fashion-mnist``
(Debian's ``dataset-fashion-mnist``), and finally torchvision's download into ``./data`` when
``download`` is true. There is never a synthetic fallback.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import torch
from torch import Tensor

from errors import UserError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DatasetError(UserError, ValueError):
    """Data that is there but cannot be used as it is (a corrupt file, an image folder in the
    wrong layout, a subset larger than the data): the message names the file and the fix."""


class DatasetNotFound(UserError, RuntimeError):
    """The proxy dataset is in none of the places looked at."""


def read_idx(path: Path) -> Tensor:
    """Read one IDX file (uint8 payload), optionally gzip-compressed."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte payload
        raise DatasetError(f"{path}: not a uint8 IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = offset + int(torch.tensor(dims).prod())
    if len(data) != expected:
        raise DatasetError(f"{path}: truncated IDX file ({len(data)} bytes, expected {expected})")
    return torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8).reshape(dims)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _candidate_dirs(root: str | None) -> list[Path]:
    dirs: list[Path] = []
    if root:
        dirs.append(Path(root))
    if os.environ.get("ATTNAS_DATA"):
        dirs.append(Path(os.environ["ATTNAS_DATA"]))
    dirs += [Path("data"), Path("data/fashion-mnist"), DEBIAN_DIR]
    # torchvision's own layout under each root, so a prior download is found too
    return list(dict.fromkeys(p for d in dirs for p in (d, d / "FashionMNIST" / "raw")))


def load_fashion_mnist(
    *, root: str | None = None, split: str = "train", download: bool = True
) -> tuple[Tensor, Tensor, str]:
    """Images ``(N, 1, 28, 28)`` uint8, labels int64, and where they came from.

    Raises:
        DatasetNotFound: in none of the places looked at and not downloadable.
    """
    images_stem, labels_stem = _FILES[split]
    looked = _candidate_dirs(root)
    for d in looked:
        images, labels = _find_idx(d, images_stem), _find_idx(d, labels_stem)
        if images and labels:
            return read_idx(images).unsqueeze(1), read_idx(labels).long(), str(d)
    download_error = "download: false in the space file"
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            ds = FashionMNIST("data", train=(split == "train"), download=True)
            return ds.data.unsqueeze(1).clone(), ds.targets.clone(), "data (torchvision download)"
        except Exception as e:  # noqa: BLE001 -- any network failure means "not available"
            download_error = f"{type(e).__name__}: {e}".splitlines()[0][:200]
    raise DatasetNotFound(
        f"Fashion-MNIST ({split} split) was not found. Looked for {images_stem}[.gz] and "
        f"{labels_stem}[.gz] in: {', '.join(str(d) for d in looked)}; "
        f"torchvision's download failed ({download_error}). Provide it in any one of these "
        f"ways: install Debian's package (apt-get install dataset-fashion-mnist, which puts the "
        f"files in {DEBIAN_DIR}); copy the four IDX files into ./data; point ATTNAS_DATA or "
        f"the space file's dataset.root at a folder that holds them; or allow a download "
        f"with network access."
    )
