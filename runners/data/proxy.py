"""Splits resident on the training device: the proxy's seeded, stratified train/validation
split carved from the training files, and the full train/test pair for full training.
Cached per process (``clear_cache``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from runners.data.folder import load_folder
from runners.data.idx import DatasetError, load_fashion_mnist
from runners.data.torchvision_sets import class_names, load_torchvision
from spaces import DEFAULT_DATASET, FOLDER, FOLDER_FLIP, FOLDER_IMAGE_SIZE, dataset_info, held_out


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
    # the class of each label, in label order (full training fills it in; () where not known)
    class_names: tuple[str, ...] = ()

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.train_x.shape[-1])

    def to(self, device: torch.device | str) -> ProxyData:
        return replace(self, train_x=self.train_x.to(device), train_y=self.train_y.to(device),
                       val_x=self.val_x.to(device), val_y=self.val_y.to(device))


def load_split(name: str, *, root: str | None, split: str,
               download: bool) -> tuple[Tensor, Tensor, str]:
    """uint8 images (N, C, H, W), int64 labels and their source, for one split."""
    if dataset_info(name).storage == "idx":
        return load_fashion_mnist(root=root, split=split, download=download)
    return load_torchvision(name, root=root, split=split, download=download)


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


def load_full_data(*, name: str = DEFAULT_DATASET, root: str | None = None, download: bool = True,
                   device: torch.device | str = "cpu", path: str | None = None,
                   test_path: str | None = None, image_size: int | None = None,
                   channels: int | None = None, progress: bool = True) -> ProxyData:
    """All training images, and the **test** split as the held-out split.

    For full training of an exported architecture only: this is the one place
    the test set is read. Normalisation comes from the training split. A folder of
    your own images (``name="folder"``) trains on every image of ``path`` and tests on
    ``test_path``, a folder with the same classes that the search never saw.

    Raises:
        ValueError: unknown dataset name.
        DatasetNotFound: see ``load_fashion_mnist``, ``runners.data.folder.scan``.
        DatasetError: a folder without ``test_path``, or whose test classes differ.
    """
    if name == FOLDER:
        if path is None or test_path is None:
            raise DatasetError("full training on a folder needs --path DIR (every image trains) "
                               "and --test-path DIR (a folder with the same classes, never used "
                               "by the search: its validation split came from the training images)")
        size = image_size or FOLDER_IMAGE_SIZE
        train = load_folder(path, image_size=size, channels=channels, progress=progress)
        test = load_folder(test_path, image_size=size, channels=train.images.shape[1],
                           progress=progress)
        if test.classes != train.classes:
            raise DatasetError(f"--test-path: {test_path} has classes {', '.join(test.classes)}; "
                               f"--path has {', '.join(train.classes)}: they must be the same")
        mean, std = channel_stats(train.images)
        return ProxyData(name=f"images in {path} (held out: {test_path})",
                         train_x=train.images.contiguous(), train_y=train.labels,
                         val_x=test.images.contiguous(), val_y=test.labels,
                         num_classes=len(train.classes), mean=mean, std=std, flip=FOLDER_FLIP,
                         source=train.source, class_names=tuple(train.classes)).to(device)
    info = dataset_info(name)
    train_x, train_y, source = load_split(name, root=root, split="train", download=download)
    test_x, test_y, _ = load_split(name, root=root, split="test", download=download)
    mean, std = channel_stats(train_x)
    return ProxyData(name=f"{name} (held out: test)", train_x=train_x.contiguous(),
                     train_y=train_y, val_x=test_x.contiguous(), val_y=test_y,
                     num_classes=info.classes, mean=mean, std=std, flip=info.flip,
                     source=source, class_names=class_names(name, root=root)).to(device)


_CACHE: dict[tuple, ProxyData] = {}


def clear_cache() -> None:
    """Forget the loaded splits (e.g. after the files or ``$ATTNAS_DATA`` changed)."""
    _CACHE.clear()



def load_proxy_data(
    *,
    name: str,
    train_subset: int | None,
    val_fraction: float,
    root: str | None = None,
    seed: int = 0,
    download: bool = True,
    device: torch.device | str = "cpu",
    flip: bool | None = None,
    path: str | None = None,
    val_path: str | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    skip_unreadable: bool = False,
    progress: bool = True,
) -> ProxyData:
    """The proxy dataset: a seeded stratified train subset and validation split.

    ``name``, ``train_subset`` and ``val_fraction`` have no defaults here: they are the space
    file's ``dataset`` block (``spaces.DatasetConfig``), whose defaults are the only ones.

    ``train_subset`` examples (stratified) are drawn from the training files,
    then ``val_fraction`` of them (stratified) becomes the validation split.
    ``name="folder"`` reads your own images from ``path`` (``runners.data.folder``;
    ``val_path``, when given, is the validation split as it is). Cached per process.

    Raises:
        ValueError: unknown dataset name or impossible sizes (``DatasetError`` for a folder).
        DatasetNotFound: see ``load_fashion_mnist``, ``runners.data.folder.scan``.
    """
    key = (name, root, train_subset, val_fraction, seed, download, str(device), flip, path, val_path,
           image_size, channels, skip_unreadable)
    if key in _CACHE:
        return _CACHE[key]
    val_images = None
    if name == FOLDER:
        size = image_size or FOLDER_IMAGE_SIZE
        got = load_folder(path, image_size=size, channels=channels, skip_unreadable=skip_unreadable,
                          progress=progress)
        images, labels, classes, default_flip = got.images, got.labels, len(got.classes), FOLDER_FLIP
        source = got.source + (f"; {len(got.skipped)} unreadable image(s) skipped" if got.skipped else "")
        if val_path is not None:
            val = load_folder(val_path, image_size=size, channels=images.shape[1],
                              skip_unreadable=skip_unreadable, progress=progress)
            if val.classes != got.classes:
                raise DatasetError(f"dataset.val_path: {val_path} has classes {', '.join(val.classes)}; "
                                   f"dataset.path has {', '.join(got.classes)}: they must be the same")
            val_images = (val.images, val.labels)
    else:
        info = dataset_info(name)
        images, labels, source = load_split(name, root=root, split="train", download=download)
        classes, default_flip = info.classes, info.flip
    where = f" ({path})" if name == FOLDER else ""
    if train_subset is not None:
        if not 10 <= train_subset <= len(labels):
            raise DatasetError(f"dataset.train_subset must be in [10, {len(labels)}]: {name}{where} has "
                             f"{len(labels)} training images; got {train_subset}")
        if train_subset < len(labels):
            _, sub = stratified_split(labels, train_subset / len(labels), seed=seed)
            images, labels = images[sub], labels[sub]
    if val_images is None:
        train_idx, val_idx = stratified_split(labels, val_fraction, seed=seed + 1)
        val_x, val_y = images[val_idx].contiguous(), labels[val_idx].contiguous()
        train_x, train_y = images[train_idx].contiguous(), labels[train_idx].contiguous()
    else:
        (val_x, val_y), train_x, train_y = val_images, images.contiguous(), labels.contiguous()
    mean, std = channel_stats(train_x)
    data = ProxyData(
        name=name, train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y,
        num_classes=classes, mean=mean, std=std, flip=default_flip if flip is None else flip,
        source=source,
    ).to(device)
    _CACHE[key] = data
    return data
