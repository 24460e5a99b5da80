"""Proxy datasets held as uint8 tensors on the training device.

Supported: Fashion-MNIST (the default), MNIST, CIFAR-10, CIFAR-100 and SVHN;
the last four through torchvision's own dataset classes (``runners.data.torchvision_sets``);
and a folder of your own images in torchvision's ImageFolder layout, decoded once
into a cache (``runners.data.folder``).
Fashion-MNIST is the default proxy. Its IDX files (``runners.data.idx``) (plain or ``.gz``) are looked
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

from runners.data.folder import load_folder
from runners.data.idx import DatasetError, DatasetNotFound, load_fashion_mnist, read_idx
from runners.data.proxy import (
    ProxyData,
    channel_stats,
    clear_cache,
    load_full_data,
    load_proxy_data,
    load_split,
    stratified_split,
)

__all__ = ["DatasetError", "DatasetNotFound", "ProxyData", "channel_stats", "clear_cache",
           "load_fashion_mnist", "load_folder", "load_full_data", "load_proxy_data", "load_split",
           "read_idx", "stratified_split"]
