"""Your own images: a folder in torchvision's ``ImageFolder`` layout, decoded once into a cache.

``DIR/<class>/<image>`` (png, jpg, webp, ... as torchvision reads them, through Pillow).
Each image is decoded, converted to grey or RGB, resized in Pillow so that its shorter
side is ``image_size`` (bilinear, antialiased) and centre-cropped square, then all are stored as one uint8
tensor. The cache file is keyed by the folder's file list, sizes and modification times,
``image_size`` and ``channels``; it lives in ``$ATTNAS_CACHE`` (default
``~/.cache/attnas``) and is written to a temporary name and renamed, so an interrupted or
failed decode leaves no partial cache. A second run reads it instead of decoding.

Greyscale is detected when every image is greyscale (Pillow modes ``1``, ``L``, ``LA``,
``I``, ``I;16``, ``F``); ``channels: 1|3`` forces it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from runners.data.idx import DatasetError, DatasetNotFound
from spaces import IMAGE_EXTENSIONS, list_image_folder

_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
_CACHE_VERSION = 1


@dataclass(frozen=True)
class FolderImages:
    images: Tensor  # uint8 (N, C, S, S)
    labels: Tensor  # int64 (N,)
    classes: tuple[str, ...]
    skipped: tuple[str, ...]  # unreadable files left out (skip_unreadable)
    source: str  # where the images came from, and whether the cache was used


def cache_dir() -> Path:
    return Path(os.environ.get("ATTNAS_CACHE") or Path.home() / ".cache" / "attnas")


def scan(path: str | Path) -> tuple[tuple[str, ...], list[tuple[Path, int]]]:
    """The class names (sorted sub-folders) and every image file with its class index.

    Raises:
        DatasetNotFound: the folder does not exist.
        DatasetError: not a folder, no class sub-folders, or a class without images.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetNotFound(f"dataset.path: image folder {root} does not exist; give a folder "
                              "with one sub-folder of images per class (DIR/<class>/<image>)")
    if not root.is_dir():
        raise DatasetError(f"dataset.path: {root} is a file, not a folder; give a folder with one "
                           "sub-folder of images per class (DIR/<class>/<image>)")
    folders = list_image_folder(root)
    classes = tuple(folders)
    if not classes:
        raise DatasetError(f"dataset.path: {root} has no class sub-folders; the layout is "
                           "DIR/<class>/<image>, one sub-folder per class")
    files: list[tuple[Path, int]] = []
    for i, name in enumerate(classes):
        if not folders[name]:
            raise DatasetError(f"dataset.path: class folder {root / name} has no images "
                               f"({', '.join(IMAGE_EXTENSIONS)}); remove it or add images")
        files += [(p, i) for p in folders[name]]
    if len(classes) < 2:
        raise DatasetError(f"dataset.path: {root} has one class sub-folder ({classes[0]}); "
                           "classification needs at least 2")
    return classes, files


def _key(root: Path, files: list[tuple[Path, int]], image_size: int, channels: int | None) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([_CACHE_VERSION, image_size, channels]).encode())
    for p, label in files:
        st = p.stat()
        h.update(f"{p.relative_to(root)}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def decode_image(p: Path, image_size: int, channels: int | None) -> Tensor:
    """uint8 (1 or 3, S, S): grey images stay grey (one channel to resize, not three) unless
    ``channels`` is 3; colour images are RGB unless ``channels`` is 1. Resized in Pillow
    (bilinear, antialiased as torchvision's ``Resize`` on a PIL image), shorter side first,
    then centre-cropped: 2x faster than resizing tensors one small image at a time."""
    from PIL import Image

    with Image.open(p) as im:
        im.load()  # a truncated file fails here, not later
        grey = channels == 1 or (channels is None and im.mode in _GREY_MODES)
        im = im.convert("L" if grey else "RGB")
    w, h = im.size
    scale = image_size / min(w, h)
    nw, nh = max(image_size, round(w * scale)), max(image_size, round(h * scale))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - image_size) // 2, (nh - image_size) // 2
    a = np.asarray(im.crop((left, top, left + image_size, top + image_size)), dtype=np.uint8)
    return torch.from_numpy(a.copy()).reshape(image_size, image_size, -1).permute(2, 0, 1)


UNREADABLE = (OSError, SyntaxError, ValueError)  # what Pillow raises for broken files


def unreadable_error(p: Path, e: Exception) -> DatasetError:
    return DatasetError(f"dataset.path: cannot read image {p}: {e}; fix or remove it, or set "
                        "dataset.skip_unreadable: true to skip and count such files")


def check_folder(path: str | Path, *, image_size: int, channels: int | None = None,
                 skip_unreadable: bool = False, decode_all: int = 5000, sample: int = 1000,
                 seed: int = 0) -> str:
    """Decode a folder's images as a run would, before it (``search.run --dry-run``); a line
    that says what was checked. Up to ``decode_all`` images: every one, through ``load_folder``
    (so the run reads the cache); more: a seeded random ``sample`` of them.

    Raises:
        DatasetNotFound / DatasetError: as ``load_folder`` would, for the images checked.
    """
    root = Path(path).expanduser().resolve()
    _, files = scan(root)
    if len(files) <= decode_all:
        got = load_folder(root, image_size=image_size, channels=channels,
                          skip_unreadable=skip_unreadable, progress=False)
        bad = f"; {len(got.skipped)} unreadable, skipped (dataset.skip_unreadable)" if got.skipped else ""
        return f"decoded all {len(files):,} images of {root} (cached for the run){bad}"
    bad = []
    for p, _ in random.Random(seed).sample(files, sample):
        try:
            decode_image(p, image_size, channels)
        except UNREADABLE as e:
            if not skip_unreadable:
                raise unreadable_error(p, e) from None
            bad.append(p)
    return (f"decoded a random sample of {sample:,} of the {len(files):,} images of {root}: "
            f"{len(bad)} unreadable{' (skipped by dataset.skip_unreadable)' if bad else ''}; the run "
            "decodes every one and stops at an unreadable one unless dataset.skip_unreadable")


def load_folder(path: str | Path, *, image_size: int, channels: int | None = None,
                skip_unreadable: bool = False, progress: bool = True) -> FolderImages:
    """All images of ``path``, decoded (or read from the cache), with their labels.

    Raises:
        DatasetNotFound / DatasetError: see ``scan``; also an unreadable or truncated image
            (named) unless ``skip_unreadable``, and a folder where nothing could be read.
    """
    from tqdm import tqdm

    root = Path(path).expanduser().resolve()
    classes, files = scan(root)
    key = _key(root, files, image_size, channels)
    # one cache per folder and setting: a changed folder's new cache replaces the old one
    slot = hashlib.sha256(json.dumps([str(root), image_size, channels]).encode()).hexdigest()[:12]
    cached = cache_dir() / f"folder-{slot}-{key[:16]}.pt"
    if cached.is_file():
        t0 = time.perf_counter()
        blob = torch.load(cached, weights_only=True)
        return FolderImages(blob["images"], blob["labels"], tuple(blob["classes"]),
                            tuple(blob["skipped"]),
                            f"{root} (cache {cached}, read in {time.perf_counter() - t0:.2f} s)")
    images, labels, skipped = [], [], []
    for p, label in tqdm(files, desc=f"decoding {root.name}", unit="img", disable=not progress,
                         dynamic_ncols=True):
        try:
            x = decode_image(p, image_size, channels)
        except UNREADABLE as e:
            if not skip_unreadable:
                raise unreadable_error(p, e) from None
            skipped.append(str(p.relative_to(root)))
            continue
        images.append(x)
        labels.append(label)
    if not images:
        raise DatasetError(f"dataset.path: none of the {len(files)} images in {root} could be read")
    # one colour image makes the folder RGB: its grey images are repeated over 3 channels
    c = max(x.shape[0] for x in images)
    x = torch.stack([im.expand(c, -1, -1) for im in images])
    y = torch.tensor(labels, dtype=torch.int64)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    try:
        torch.save({"images": x, "labels": y, "classes": list(classes), "skipped": skipped}, tmp)
        os.replace(tmp, cached)
    finally:
        tmp.unlink(missing_ok=True)
    for old in cached.parent.glob(f"folder-{slot}-*.pt"):
        if old != cached:
            old.unlink(missing_ok=True)
    return FolderImages(x, y, classes, tuple(skipped), f"{root} (decoded; cache {cached})")
