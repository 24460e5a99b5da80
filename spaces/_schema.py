"""The space file's schema, with every default written down once.

Pydantic v2 models with ``extra="forbid"``, so an unknown key is an error (the
loader adds a did-you-mean). Registry-dependent checks (attention names and
hyper-parameter values, backbone settings and stage names) happen in
``_load.py`` against a catalog passed in by the caller, so this package never
imports torch.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spaces._datasets import (
    DATASETS,
    DEFAULT_DATASET,
    FOLDER,
    FOLDER_FLIP,
    FOLDER_IMAGE_SIZE,
    DatasetInfo,
    dataset_info,
    held_out,
    list_image_folder,
)
from spaces._samplers import DEFAULT_SAMPLER, SAMPLERS

METRICS: dict[str, str] = {
    "accuracy": "maximize",
    "latency_ms": "minimize",
    "latency_ratio": "minimize",
    "params": "minimize",
    "flops": "minimize",
    "latency_flops": "minimize",  # FLOPs at latency.input_size, the deployment resolution
    "peak_memory": "minimize",
}
Sampler = Literal[SAMPLERS]  # type: ignore[valid-type]  (spaces._samplers: the one spelling)
# where an attention module goes in a block, and in which blocks of a stage; which positions a
# backbone offers is its ``BackboneSpec.positions``
TrainDevice = Literal["auto", "cpu", "cuda"]
TRAIN_DEVICES: tuple[str, ...] = get_args(TrainDevice)
Position = Literal["pre_add", "post_add", "after_dw"]
POSITIONS: tuple[str, ...] = get_args(Position)
Blocks = Literal["all", "first", "last"]
BLOCKS: tuple[str, ...] = get_args(Blocks)
DatasetName = Literal[(*DATASETS, FOLDER)]  # type: ignore[valid-type]
_FOLDER_KEYS = ("path", "val_path", "image_size", "channels")
SEED_MAX = 2**31 - 1


class _Strict(BaseModel):
    # inf and nan are not numbers a space file means; bounds below keep every count computable
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class BackboneConfig(BaseModel):
    """``name`` plus the backbone's own settings (checked against its registry).

    ``weights``: trained weights to start from instead of random ones -- a file saved with
    ``torch.save(model.state_dict(), PATH)`` from the matching model (or a checkpoint holding
    one under ``state_dict`` or ``model``, as ``runners.train`` writes), or a torchvision
    weights name such as ``IMAGENET1K_V1``, read only from the local torch hub cache. A
    relative path is taken from the directory the command runs in.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = "resnet_cifar"
    weights: str | None = Field(None, min_length=1)

    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DatasetConfig(_Strict):
    name: DatasetName = DEFAULT_DATASET
    root: str | None = None
    download: bool = True
    # stratified subset of the training files (null: all); a folder's default is all of it
    train_subset: int | None = Field(10000, ge=10, le=100_000_000)
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    # horizontal flips in augmentation; default: the dataset's (not for digits; yes for a folder)
    flip: bool | None = None
    # name: folder -- your own images, DIR/<class>/<image> (runners.data.folder)
    path: str | None = None
    val_path: str | None = None  # a separate validation folder (else carved from path)
    image_size: int | None = Field(None, ge=8, le=1024)  # default FOLDER_IMAGE_SIZE
    channels: Literal[1, 3] | None = None  # default: detected (grey when every image is)
    skip_unreadable: bool = False  # skip and count unreadable images instead of stopping

    @model_validator(mode="before")
    @classmethod
    def _folder_uses_every_image(cls, data: Any) -> Any:
        # train_subset's default is for the large built-in sets; a folder's default is all of it
        if isinstance(data, dict) and data.get("name") == FOLDER and "train_subset" not in data:
            return {**data, "train_subset": None}
        return data

    @model_validator(mode="after")
    def _folder_keys(self) -> DatasetConfig:
        if self.name == FOLDER and self.path is None:
            raise ValueError("name: folder needs path: DIR, a folder with one sub-folder of images "
                             "per class")
        used = [k for k in _FOLDER_KEYS if getattr(self, k) is not None]
        used += ["skip_unreadable"] * self.skip_unreadable
        if self.name != FOLDER and used:
            raise ValueError(f"{', '.join(used)}: only for name: folder (your own images); "
                             f"{self.name} is read from its own files (see root)")
        return self

    @property
    def input_size(self) -> int:
        """The side of the images the network sees."""
        return (self.image_size or FOLDER_IMAGE_SIZE) if self.name == FOLDER else dataset_info(self.name).size

    def info(self) -> DatasetInfo:
        """The dataset's facts; a folder's are counted from its files (nothing is decoded)."""
        if self.name != FOLDER:
            base = dataset_info(self.name)
            return base if self.flip is None else replace(base, flip=self.flip)
        folders = list_image_folder(Path(self.path).expanduser())
        return DatasetInfo(f"images in {self.path}", self.channels or 3, self.input_size, len(folders),
                           FOLDER_FLIP if self.flip is None else self.flip,
                           sum(len(f) for f in folders.values()))

    def split_sizes(self) -> tuple[int, int]:
        """(training, validation) images the proxy split gives, from the dataset's size (the
        loader's stratified rounding may differ by a few images)."""
        available = self.info().train_images
        total = min(self.train_subset or available, available)
        if total == 0:  # a folder that is not there (yet): the loader names the problem
            return 0, 0
        if self.val_path is not None:
            return total, sum(len(f) for f in list_image_folder(Path(self.val_path).expanduser()).values())
        val = held_out(total, self.val_fraction)
        return total - val, val


class FinetuneConfig(_Strict):
    """How a backbone with ``weights`` is fine-tuned (``pretrained_lr`` is ignored when it starts
    from random weights; ``freeze`` is refused then).

    ``budget.lr`` is the learning rate of what is new -- the attention modules, the classifier
    head (always replaced for the dataset's classes) and ODConv's attention branches; the
    weights that came from the file train at ``pretrained_lr``. Both follow the budget's
    schedule: linear warm-up over the first quarter of the steps, then cosine decay to zero.
    """

    # a tenth of the default budget.lr: the usual ratio when the head is new and the body is not
    pretrained_lr: float = Field(0.01, ge=0.0, le=100.0)
    # the stem and the first `freeze` stages keep the trained weights: not trained, BatchNorm
    # statistics as loaded (attention and ODConv branches inserted there still train); 0
    # fine-tunes everything, the number of stages trains only what is new and the head
    freeze: int = Field(0, ge=0, le=64)
    # the learning rate of the zero-started scales that make each inserted module begin as the
    # identity (models.attention.IdentityStart); unset, they train at budget.lr. A module's own
    # weights get gradients only as its scale grows, so a higher rate lets the new modules act
    # within a short proxy (BENCHMARKS.md, "Fine-tuning")
    scale_lr: float | None = Field(None, gt=0.0, le=100.0)


class BudgetConfig(_Strict):
    """How long and how hard the proxy trains: the trainer's budget (``runners.trainer``)."""

    # auto: CUDA when torch sees a GPU, else the CPU (runners.device.resolve_device)
    device: TrainDevice = "auto"
    epochs: float = Field(2.0, gt=0.0, le=10_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    lr: float = Field(0.1, gt=0.0, le=100.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0)
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    augment: bool = True
    crop_padding: int = Field(2, ge=0, le=64)
    # channels_last memory format for model and batches, on CPU as on CUDA (bench/train_throughput.py);
    # an odd batch_size on a CPU with 2+ threads trains contiguous (runners.trainer.memory_format)
    channels_last: bool = True
    # torch.compile the model before training: off by default; compile time (tens of seconds
    # per architecture) is paid by every trial, so it can only pay for long trials on a GPU
    compile: bool = False
    # on CUDA, capture the training step in a CUDA graph and replay it (falls back to eager,
    # with the reason recorded, where capture fails); ignored on CPU and with compile
    cuda_graph: bool = True
    # score an exponential moving average of the weights, BatchNorm statistics averaged with
    # them (torch.optim.swa_utils.AveragedModel), instead of the last weights; 0: off. The
    # average starts as a copy of the first step's weights and follows every step after.
    ema_decay: float = Field(0.0, ge=0.0, lt=1.0)
    # test-time augmentation: the validation score averages the softmax of each image and of
    # its horizontal mirror (the dataset must allow flips: dataset.flip)
    tta_flip: bool = False
    # random erasing (runners.augment.random_erase): the probability that a training image
    # gets one box of random pixels covering 2-40% of it; 0: off. Independent of ``augment``
    # (crop and flip). The Random Erasing paper's Fashion-MNIST records use 0.5
    erase_prob: float = Field(0.0, ge=0.0, le=1.0)
    # with backbone.weights: the learning rate of the pretrained weights (FinetuneConfig)
    finetune: FinetuneConfig = FinetuneConfig()

    def steps_per_epoch(self, train_images: int) -> int:
        """Batches per epoch (the ragged last batch is dropped)."""
        return max(1, train_images // self.batch_size)

    def steps(self, train_images: int) -> int:
        """Optimizer steps of one training on ``train_images`` images (fractional epochs round)."""
        return max(1, int(round(self.epochs * self.steps_per_epoch(train_images))))


class LatencyConfig(_Strict):
    # torch: eager PyTorch; onnxruntime: the exported model in ONNX Runtime on CPU;
    # profile: predicted from a latency profile of the target device (runners.profile)
    backend: Literal["torch", "onnxruntime", "profile"] = "torch"
    device: Literal["cpu", "cuda"] = "cpu"
    batch_size: int = Field(1, ge=1, le=65_536)
    threads: int = Field(1, ge=1, le=1024)
    repeats: int = Field(21, ge=4, le=10_000)
    # also time the backbone without attention beside each candidate (latency_ratio)
    relative: bool = False
    # image side the latency is timed at: the deployment resolution (default: the training
    # size); FLOPs are then recorded at both sizes (flops, latency_flops)
    input_size: int | None = Field(None, ge=8, le=4096)
    # a profile made on the target device (python -m runners.profile): with backend: profile
    # latency is predicted from it; with torch or onnxruntime it is predicted beside the timing
    profile: str | None = None

    @model_validator(mode="after")
    def _profile_given(self) -> LatencyConfig:
        if self.backend == "profile" and self.profile is None:
            raise ValueError("backend: profile needs profile: FILE, a latency profile made on the "
                             "target device with: python -m runners.profile --space SPACE --out FILE")
        return self


class Bound(_Strict):
    max: float | None = None
    min: float | None = None


def parse_duration(value: Any) -> Any:
    """Seconds from ``90``, ``"90s"``, ``"12m"``, ``"12min"``, ``"1.5h"``; other values pass
    through for the field's own check (which then names what was wrong)."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(s|sec|m|min|h)?\s*", value)
        if m is None:
            raise ValueError("a duration such as 600, '600s', '12m' or '1.5h'")
        return float(m.group(1)) * {"s": 1, "sec": 1, None: 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]
    return value


class SearchConfig(_Strict):
    sampler: Sampler = DEFAULT_SAMPLER
    # a cap: distinct architectures the study should hold
    n_trials: int = Field(24, ge=1, le=10_000_000)
    # NumPy's generators take 0 .. 2**32-1; workers and confirmation add small offsets
    seed: int = Field(0, ge=0, le=SEED_MAX)
    baselines: bool = True
    # trainings per architecture during the search (seeds seed, seed+1, ...)
    seeds: int = Field(1, ge=1, le=20)
    # wall-clock seconds for search + confirmation + reports; the run keeps it (see search.budget)
    time_budget: float | None = Field(None, gt=0, le=366 * 86_400)

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return parse_duration(v)


class ConfirmConfig(_Strict):
    """After the search: the front and the no-attention reference get more seeds."""

    # trainings per confirmed architecture in all, the search's included
    seeds: int = Field(3, ge=2, le=20)
    # at most this many front architectures (knee first, then by accuracy)
    max_architectures: int = Field(8, ge=1)
    # confidence level of the intervals
    level: float = Field(0.95, gt=0.5, lt=1.0)


class RungConfig(_Strict):
    """One rung of a multi-fidelity search: how much an architecture trains there."""

    epochs: float = Field(gt=0.0, le=10_000)
    # training images of the proxy split used at this rung (stratified; default: all of them)
    train_subset: int | None = Field(None, ge=10, le=100_000_000)
    # trainings (seeds search.seed, search.seed + 1, ...) whose mean is the rung's accuracy
    seeds: int = Field(1, ge=1, le=20)


class FidelityConfig(_Strict):
    """Multi-objective asynchronous successive halving (``search.rungs``): rungs of growing
    budget, cheapest first; a rung promotes the best 1/eta of what it has seen."""

    rungs: list[RungConfig] = Field(min_length=2, max_length=10)
    eta: float = Field(3.0, gt=1.0, le=100.0)
    # the rung whose results the sampler learns from: rung0 (every architecture has one) or
    # highest (BOHB's rule: the highest rung with enough results for the sampler's model)
    learn_from: Literal["rung0", "highest"] = "rung0"


class StageConfig(_Strict):
    """Choices for one stage (or ``all``); a scalar is a single pinned value.

    ``attention`` maps module names to their hyper-parameter choices; the
    module is *inserted* at ``position`` in the ``blocks`` chosen. ``conv``
    maps convolution names (``standard``, ``odconv``) to theirs; the choice
    *replaces* the 3x3 convolutions of every block of the stage. Without
    ``conv`` a stage keeps ``standard``.
    """

    attention: dict[str, dict[str, Any] | None] | None = None
    position: list[Position] | None = None
    blocks: list[Blocks] | None = None
    conv: dict[str, dict[str, Any] | None] | None = None

    @field_validator("position", "blocks", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class SpaceConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    backbone: BackboneConfig = BackboneConfig()
    dataset: DatasetConfig = DatasetConfig()
    budget: BudgetConfig = BudgetConfig()
    objectives: list[str] = ["accuracy", "latency_ms"]
    latency: LatencyConfig = LatencyConfig()
    constraints: dict[str, Bound] = {}
    search: SearchConfig = SearchConfig()
    # `confirm: false` skips confirmation
    confirm: ConfirmConfig | Literal[False] = ConfirmConfig()
    # rungs of growing budget (multi-fidelity); without it every architecture gets `budget`
    fidelity: FidelityConfig | None = None
    stages: dict[str, StageConfig]

    @field_validator("confirm", mode="before")
    @classmethod
    def _confirm_true(cls, v: Any) -> Any:
        return {} if v is True or v is None else v

    @field_validator("objectives", mode="before")
    @classmethod
    def _objective_names(cls, v: Any) -> Any:
        # accept both `[accuracy, latency_ms]` and `[{metric: accuracy}, ...]`
        if isinstance(v, list):
            return [o["metric"] if isinstance(o, dict) and set(o) == {"metric"} else o for o in v]
        return v
