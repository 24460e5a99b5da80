"""A folder of your own images: first decode, cached second run, and torchvision's ImageFolder.

    python -m bench.folder_cache [--images 20000] [--size 32]

Writes ``--images`` Fashion-MNIST training images as PNG files in ImageFolder layout
(``class_<k>/<i>.png``) to a temporary folder, then, in one process:

- ``first run``: ``load_proxy_data(name="folder")`` with an empty cache: every image
  decoded, resized and stored as one uint8 tensor in the cache;
- ``second run``: the same call again (the per-process cache cleared): the file
  cache is read;
- ``ImageFolder``, the baseline a user would write: ``torchvision.datasets.ImageFolder``
  with the same resize and centre crop, read once through a ``DataLoader``
  (batch 256, no workers, as the search's process would), i.e. what each epoch costs
  without a cache.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from runners.data import clear_cache, load_proxy_data  # noqa: E402
from runners.data.idx import load_fashion_mnist  # noqa: E402


def write_pngs(folder: Path, n: int) -> None:
    from PIL import Image

    x, y, _ = load_fashion_mnist(root=None, split="train", download=False)
    for i in range(n):
        d = folder / f"class_{int(y[i])}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i, 0].numpy()).save(d / f"{i:05d}.png")


def imagefolder_seconds(folder: Path, size: int) -> float:
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.Grayscale(), transforms.Resize(size), transforms.CenterCrop(size),
                             transforms.PILToTensor()])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(folder), transform=tf), batch_size=256)
    t0 = time.perf_counter()
    n = sum(len(xb) for xb, _ in loader)
    assert n > 0
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        folder, cache = Path(tmp) / "images", Path(tmp) / "cache"
        os.environ["ATTNAS_CACHE"] = str(cache)
        t0 = time.perf_counter()
        write_pngs(folder, args.images)
        print(f"wrote {args.images} PNGs in {time.perf_counter() - t0:.0f} s")
        times = {}
        for run in ("first run", "second run"):
            clear_cache()
            t0 = time.perf_counter()
            data = load_proxy_data(name="folder", path=str(folder), train_subset=None, val_fraction=0.2,
                                   image_size=args.size, progress=False)
            times[run] = time.perf_counter() - t0
            print(f"{run}: {times[run]:.2f} s ({data.source})", flush=True)
        times["ImageFolder"] = imagefolder_seconds(folder, args.size)
        size_mb = sum(f.stat().st_size for f in cache.iterdir()) / 2**20
    print(f"\n{args.images} images at {args.size} px; cache file {size_mb:.0f} MiB")
    print("| run | seconds | vs ImageFolder + DataLoader, one pass |")
    print("|---|---|---|")
    for run, s in times.items():
        print(f"| {run} | {s:.2f} | {s / times['ImageFolder']:.3f}x |")


if __name__ == "__main__":
    main()
