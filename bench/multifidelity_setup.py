"""The multi-fidelity benchmark's set-up (``bench/multifidelity.py``): its space, its proxies,
and trainings that are cached on disk and can run in several processes.

Every training goes through ``CachedTrainer`` (the run plan's trainer in place of ``search.training.train_seed``
in each process), keyed by architecture, epochs, images, seed and the images themselves,
plus the device and thread count where they are not the CPU's 2 threads that the cache on
disk was made with (they change the numbers). ``Worker`` is what one process holds: the
proxy data, the base space and the trainer; ``start`` makes it (the pool's initializer, or
once here), ``in_parallel`` maps jobs over the pool and merges what each process trained
into one cache file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import torch

from models import Architecture
from runners.catalog import model_catalog
from runners.data import ProxyData, load_proxy_data
from runners.data.proxy import channel_stats
from search.rungs import Rung, rung_data
from search.training import train_seed
from spaces import load_space

SPACE = """\
name: {name}
backbone: {{name: resnet_cifar, depth: 8, width: 8}}
dataset: {{name: fashion-mnist, train_subset: {train_subset}, val_fraction: 0.25}}
budget: {{epochs: {epochs:g}, batch_size: 64, lr: 0.1}}
objectives: [accuracy, flops]
latency: {{device: cpu, batch_size: 1, threads: 1, repeats: 4}}
search: {{sampler: {sampler}, n_trials: 100000, seed: {seed}}}
confirm: false
{fidelity}stages:
  all:
    attention:
      none: {{}}
      se: {{reduction: [4, 16]}}
      eca: {{kernel_size: [auto, 5]}}
      gc: {{ratio: [0.0625, 0.25], fusion: [add, mul]}}
      ca: {{reduction: [8, 32]}}
      cbam: {{reduction: 16, kernel_size: [3, 7]}}
      simam: {{}}
      triplet: {{kernel_size: [3, 7]}}
      ese: {{}}
      ge: {{extent: [global, 2]}}
    position: [pre_add, post_add]
    blocks: [all, last]
    conv: {{standard: {{}}, odconv: {{kernel_num: [1, 4]}}}}
"""


@dataclass(frozen=True)
class Clutter:
    """Cluttered images, after Cluttered MNIST (Mnih et al. 2014, "Recurrent Models of Visual
    Attention"; Jaderberg et al. 2015): each image is placed at a random position on a
    ``canvas`` x ``canvas`` black field and ``patches`` pieces of ``patch`` x ``patch`` pixels cut
    from other images of the same split are laid over the field (pixel-wise maximum). The
    class is the placed image's; the pieces are distractors, so a network has to find the
    object, which is what spatial attention is for."""

    canvas: int = 40
    patches: int = 6
    patch: int = 12

    def __call__(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        """``images`` (uint8, N x C x H x W, H = W <= canvas) cluttered; seeded, the same on
        every machine (a CPU generator)."""
        n, c, size, _ = images.shape
        if not size <= self.canvas or not self.patch <= size:
            raise ValueError(f"clutter: images of {size} pixels need canvas >= {size} and patch <= {size}")
        g = torch.Generator().manual_seed(seed)
        src = images.cpu()
        out = torch.zeros(n, c, self.canvas, self.canvas, dtype=torch.uint8)
        room = self.canvas - size + 1
        at = torch.randint(room, (n, 2), generator=g)
        for i in range(n):  # the object
            y, x = at[i].tolist()
            out[i, :, y:y + size, x:x + size] = src[i]
        reach = size - self.patch + 1
        place = self.canvas - self.patch + 1
        for _ in range(self.patches):  # the distractors: a piece of another image each
            other = torch.randint(n, (n,), generator=g)
            cut = torch.randint(reach, (n, 2), generator=g)
            put = torch.randint(place, (n, 2), generator=g)
            for i in range(n):
                (cy, cx), (py, px) = cut[i].tolist(), put[i].tolist()
                piece = src[other[i], :, cy:cy + self.patch, cx:cx + self.patch]
                view = out[i, :, py:py + self.patch, px:px + self.patch]
                torch.maximum(view, piece, out=view)
        return out.to(images.device)

    def data(self, data: ProxyData) -> ProxyData:
        """``data`` with both splits cluttered (seeds 0 and 1) and the training split's
        statistics recomputed."""
        train_x = self(data.train_x, seed=0)
        mean, std = channel_stats(train_x)
        return replace(data, name=f"{data.name}, cluttered ({self.canvas}px, {self.patches}x"
                       f"{self.patch}px pieces)", train_x=train_x, val_x=self(data.val_x, seed=1),
                       mean=mean, std=std)


@dataclass(frozen=True)
class Proxy:
    """One scale of the benchmark: the proxy split, the top rung and the rungs below it."""

    train_subset: int  # images of the proxy split: 3/4 training, 1/4 validation
    top: tuple[float, int]  # the top rung: epochs, training images (all of the split's)
    rungs: tuple[tuple[float, int], ...]  # the rungs below the top, cheapest first
    eta: int
    lows: tuple[tuple[float, int], ...]  # the rank table's cheaper trainings
    longer: tuple[float, ...] = ()  # the rank table's longer trainings (epochs, all images)
    clutter: Clutter | None = None  # the images cluttered (``Clutter``), or as they are
    accuracy_ref: float = 0.5  # the hypervolume's reference accuracy: below every front's

    def space(self, name: str, sampler: str, seed: int, learn_from: str | None) -> str:
        """The space file of one search; ``learn_from`` None: single fidelity."""
        fidelity = ""
        if learn_from is not None:
            rows = "".join(f"    - {{epochs: {e:g}, train_subset: {n}}}\n"
                           for e, n in (*self.rungs, self.top))
            fidelity = f"fidelity:\n  rungs:\n{rows}  eta: {self.eta}\n  learn_from: {learn_from}\n"
        return SPACE.format(name=name, train_subset=self.train_subset, epochs=self.top[0],
                            sampler=sampler, seed=seed, fidelity=fidelity)

    @property
    def top_images(self) -> float:
        return self.top[0] * self.top[1]


# the medium proxy's sizes on cluttered images (40 px), where finding the object is the task;
# its rung is 2 x 6,000, the cheapest that ranked as well as the ceiling there (--rank-only)
CLUTTER = Proxy(8000, (4, 6000), ((2, 6000),), 3, lows=((1, 1500), (1, 3000), (1, 6000), (2, 6000)),
                clutter=Clutter(), accuracy_ref=0.1)

PROXIES = {
    "small": Proxy(4000, (3, 3000), ((1, 1000), (2, 1500)), 3,
                   lows=((1, 1000), (1, 3000), (2, 1500), (2, 3000)), longer=(12,)),
    "medium": Proxy(8000, (4, 6000), ((1, 6000),), 3,
                    lows=((1, 1500), (1, 3000), (1, 6000), (2, 6000))),
    "large": Proxy(16000, (4, 12000), ((1, 6000),), 3,
                   lows=((1, 1500), (1, 3000), (1, 6000), (2, 6000))),
    "clutter": CLUTTER,
    # the same with the cheaper rung, 1 x 6,000 (a quarter of the cost), which ranked within
    # chance there: more architectures, promoted on a noisier ranking
    "clutter-cheap": replace(CLUTTER, rungs=((1, 6000),)),
    # a check that the script runs end to end in seconds (bench/gpu.sh with QUICK=1): no benchmark
    "tiny": Proxy(800, (1, 600), ((1, 200),), 3, lows=((1, 200),)),
}


def fingerprint(data) -> str:
    """Which training images (a rung's subset depends on the search seed): labels and a pixel."""
    h = hashlib.sha1(data.train_y.cpu().numpy().tobytes())
    h.update(data.train_x[:, 0, 14, 14].cpu().numpy().tobytes())
    return h.hexdigest()[:10]


class CachedTrainer:
    """``search.training.train_seed`` with a disk cache; counts the compute a search spends.

    ``tag`` goes into every key (the device and thread count where they are not the CPU's
    2 threads that the cached results on disk were made with: they change the numbers).
    """

    def __init__(self, path: Path, tag: str = "") -> None:
        self.path, self.tag = path, tag
        self.cache: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}
        self.real = train_seed
        self.new: dict[str, dict] = {}  # trained by this process, not yet on disk
        self.images = 0.0
        self.seconds = 0.0
        self.trained = 0  # by the processes of ``in_parallel``, this one included

    def reset(self) -> None:
        self.images = self.seconds = 0.0

    def key(self, arch: Architecture, epochs: float, data: ProxyData, seed: int) -> str:
        return f"{arch.key()}|{epochs:g}|{len(data.train_y)}|{seed}|{fingerprint(data)}{self.tag}"

    def __call__(self, arch, space, data, *, seed, device, budget=None) -> dict:
        epochs = (budget or space.config.budget).epochs
        key = self.key(arch, epochs, data, seed)
        if key not in self.cache:
            self.cache[key] = self.new[key] = self.real(arch, space, data, seed=seed, device=device,
                                                         budget=budget)
        self.images += epochs * len(data.train_y)
        self.seconds += self.cache[key]["train_seconds"]
        return self.cache[key]

    def merge(self, entries: dict[str, dict]) -> None:
        self.cache.update(entries)
        self.new.update(entries)

    def save(self) -> None:
        if not self.new:
            return
        on_disk = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**on_disk, **self.new}))
        tmp.replace(self.path)
        self.new = {}


class Worker:
    """What one process needs: the proxy data, the base space and the cached trainer."""

    def __init__(self, proxy: Proxy, cache: Path, device: str, threads: int, tmp: Path) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        torch.set_num_threads(threads)
        self.proxy, self.device, self.tmp = proxy, torch.device(device), tmp
        tag = "" if device == "cpu" and threads == 2 else f"|{device}:{threads}"
        self.trainer = CachedTrainer(cache, tag)  # every training of a search: RunPlan.train
        self.base = load_space(self.space_file("base", "tpe", 0, None), catalog=model_catalog())
        self.data = load_proxy_data(**self.base.config.dataset.model_dump(), seed=0,
                                    device=self.device, progress=False)
        if proxy.clutter is not None:
            self.data = proxy.clutter.data(self.data)

    def space_file(self, name: str, sampler: str, seed: int, learn_from: str | None) -> Path:
        path = self.tmp / f"{name}.yaml"
        path.write_text(self.proxy.space(name, sampler, seed, learn_from))
        return path

    def images(self, n: int) -> ProxyData:
        """``n`` images of the training split: the same stratified subset for every
        architecture and seed (all of them when ``n`` is the split's size)."""
        return rung_data(self.data, Rung(0, self.base.config.budget, n, (0,)), seed=0)

    def train(self, arch: Architecture, epochs: float, images: int, seed: int) -> dict:
        """One training of ``arch`` for ``epochs`` on ``images`` of the training split."""
        budget = self.base.config.budget.model_copy(update={"epochs": epochs})
        return self.trainer(arch, self.base, self.images(images), seed=seed, device=self.device,
                            budget=budget)

    def take_new(self) -> dict[str, dict]:
        """What this process trained since it last said, for ``in_parallel`` to merge."""
        new, self.trainer.new = self.trainer.new, {}
        return new


_WORKER: Worker | None = None


def start(*args) -> None:
    """Make this process's ``Worker`` (``Worker``'s arguments)."""
    global _WORKER
    _WORKER = Worker(*args)


def worker() -> Worker:
    assert _WORKER is not None, "start runs first, in every process"
    return _WORKER


def train_one(job: tuple[dict, float, int, int]) -> tuple[None, dict[str, dict]]:
    """One training (architecture as a dict, epochs, images, seed) in this process."""
    arch, epochs, images, seed = job
    w = worker()
    w.train(Architecture.from_dict(arch), epochs, images, seed)
    return None, w.take_new()


def in_parallel(fn: Callable, jobs: list, pool: ProcessPoolExecutor | None, w: Worker) -> list:
    """``fn`` over ``jobs`` (in ``pool``'s processes, or here); each returns (result, what it
    trained), and every training goes into this process's cache, and onto disk."""
    out = []
    for result, new in (pool.map(fn, jobs) if pool is not None else map(fn, jobs)):
        w.trainer.trained += len(new)
        w.trainer.merge(new)
        w.trainer.save()
        out.append(result)
    return out


def missing(w: Worker, trainings: Iterable[tuple[dict, float, int, int]]) -> list:
    """The trainings (architecture as a dict, epochs, images, seed) the cache does not answer
    yet, each once."""
    todo: dict[str, tuple] = {}
    for job in trainings:
        arch, epochs, images, seed = job
        todo.setdefault(w.trainer.key(Architecture.from_dict(arch), epochs, w.images(images), seed), job)
    return [job for key, job in todo.items() if key not in w.trainer.cache]
