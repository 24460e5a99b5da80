"""Proxy datasets held as uint8 tensors on the training device.

Supported: Fashion-MNIST (the default), MNIST, CIFAR-10, CIFAR-100 and SVHN;
the last four through torchvision's own dataset classes (``_torchvision_split``).
Fashion-MNIST is the default proxy. Its IDX files (plain or ``.gz``) are looked
for, in order, in: the ``root`` given in the space file, ``$ATTNAS_DATA``,
``./data`` (also ``./data/FashionMNIST/raw``, torchvision's layout),
``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``), and
finally torchvision's download into ``./data`` when ``download`` is true. If
none works, ``DatasetNotFound`` names every way to provide it. There is never
a synthetic fallback.

The validation split is carved from the training files (seeded, stratified);
the test files are read only by full training (``split="test"``).
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from spaces import dataset_info, held_out

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

def _torchvision_split(name: str, *, root: str | None, split: str,
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

    classes = {"mnist": datasets.MNIST, "cifar10": datasets.CIFAR10,
               "cifar100": datasets.CIFAR100, "svhn": datasets.SVHN}
    # same class name: MNIST derives its folder (root/MNIST/raw) from it
    cls = type(classes[name].__name__, (_Present, classes[name]), {})
    try:
        if name == "svhn":
            ds = cls(base, split="train" if train else "test", download=download)
            x, y = torch.from_numpy(ds.data), torch.from_numpy(ds.labels).long()
        elif name == "mnist":
            ds = cls(base, train=train, download=download)
            x, y = ds.data.unsqueeze(1), ds.targets.long()
        else:
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
    return x.contiguous(), y, f"{base} (torchvision {classes[name].__name__})"


def load_split(name: str, *, root: str | None, split: str,
               download: bool) -> tuple[Tensor, Tensor, str]:
    """uint8 images (N, C, H, W), int64 labels and their source, for one split."""
    dataset_info(name)
    if name == "fashion-mnist":
        return load_fashion_mnist(root=root, split=split, download=download)
    return _torchvision_split(name, root=root, split=split, download=download)


_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DatasetNotFound(RuntimeError):
    """The proxy dataset is in none of the places looked at."""


@dataclass(frozen=True)
class ProxyData:
    """A dataset split into train/validation, resident on one device.

    Images are uint8 ``(N, C, H, W)``; ``mean``/``std`` are per-channel
    statistics of the training split in [0, 1] units.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip: bool
    source: str

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.train_x.shape[-1])

    def to(self, device: torch.device | str) -> ProxyData:
        return ProxyData(self.name, self.train_x.to(device), self.train_y.to(device),
                         self.val_x.to(device), self.val_y.to(device), self.num_classes,
                         self.mean, self.std, self.flip, self.source)


def _read_idx(path: Path) -> Tensor:
    """Read one IDX file (uint8 payload), optionally gzip-compressed."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte payload
        raise ValueError(f"{path}: not a uint8 IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = offset + int(torch.tensor(dims).prod())
    if len(data) != expected:
        raise ValueError(f"{path}: truncated IDX file ({len(data)} bytes, expected {expected})")
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
            return _read_idx(images).unsqueeze(1), _read_idx(labels).long(), str(d)
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


def stratified_split(labels: Tensor, fraction: float, *, seed: int) -> tuple[Tensor, Tensor]:
    """Indices ``(keep, held_out)`` with ``fraction`` of every class held out.

    Seeded and independent of the global RNG.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    g = torch.Generator().manual_seed(seed)
    keep, held = [], []
    for c in torch.unique(labels):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_held = held_out(len(idx), fraction)
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    keep_t, held_t = torch.cat(keep), torch.cat(held)
    return keep_t[torch.randperm(len(keep_t), generator=g)], held_t[torch.randperm(len(held_t), generator=g)]


def channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units."""
    x = images.float().div_(255).transpose(0, 1).reshape(images.shape[1], -1)
    return tuple(x.mean(1).tolist()), tuple(x.std(1).tolist())


def load_full_data(*, name: str = "fashion-mnist", root: str | None = None, download: bool = True,
                   device: torch.device | str = "cpu") -> ProxyData:
    """All training images, and the **test** split as the held-out split.

    For full training of an exported architecture only: this is the one place
    the test set is read. Normalisation comes from the training split.

    Raises:
        ValueError: unknown dataset name.
        DatasetNotFound: see ``load_fashion_mnist``.
    """
    info = dataset_info(name)
    train_x, train_y, source = load_split(name, root=root, split="train", download=download)
    test_x, test_y, _ = load_split(name, root=root, split="test", download=download)
    mean, std = channel_stats(train_x)
    return ProxyData(name=f"{name} (held out: test)", train_x=train_x.contiguous(),
                     train_y=train_y, val_x=test_x.contiguous(), val_y=test_y,
                     num_classes=info.classes, mean=mean, std=std, flip=info.flip,
                     source=source).to(device)


_CACHE: dict[tuple, ProxyData] = {}


def load_proxy_data(
    *,
    name: str = "fashion-mnist",
    root: str | None = None,
    train_subset: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = True,
    device: torch.device | str = "cpu",
) -> ProxyData:
    """The proxy dataset: a seeded stratified train subset and validation split.

    ``train_subset`` examples (stratified) are drawn from the training files,
    then ``val_fraction`` of them (stratified) becomes the validation split.
    Cached per process.

    Raises:
        ValueError: unknown dataset name or impossible sizes.
        DatasetNotFound: see ``load_fashion_mnist``.
    """
    key = (name, root, train_subset, val_fraction, seed, download, str(device))
    if key in _CACHE:
        return _CACHE[key]
    info = dataset_info(name)
    images, labels, source = load_split(name, root=root, split="train", download=download)
    if train_subset is not None:
        if not 10 <= train_subset <= len(labels):
            raise ValueError(f"train_subset must be in [10, {len(labels)}], got {train_subset}")
        if train_subset < len(labels):
            _, sub = stratified_split(labels, train_subset / len(labels), seed=seed)
            images, labels = images[sub], labels[sub]
    train_idx, val_idx = stratified_split(labels, val_fraction, seed=seed + 1)
    train_x, train_y = images[train_idx].contiguous(), labels[train_idx].contiguous()
    mean, std = channel_stats(train_x)
    data = ProxyData(
        name=name, train_x=train_x, train_y=train_y,
        val_x=images[val_idx].contiguous(), val_y=labels[val_idx].contiguous(),
        num_classes=info.classes, mean=mean, std=std, flip=info.flip, source=source,
    ).to(device)
    _CACHE[key] = data
    return data
