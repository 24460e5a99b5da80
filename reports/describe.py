"""The dashboard header's settings in words, from the study's stored space read back typed
(``studies.StudyRecord.config``, every default from the schema): the data, the proxy budget,
how latency was measured, the backbone (``reports.dashboard``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spaces import (
    DATASETS,
    FOLDER,
    FOLDER_IMAGE_SIZE,
    BackboneConfig,
    BudgetConfig,
    DatasetConfig,
    LatencyConfig,
)
from stats import check_text


def describe_data(dataset: DatasetConfig, counts: tuple[int, int] | None) -> str:
    """The dataset's name (a folder: where and at what size) and, when the run recorded them,
    its split sizes (a study stopped before recording them says no sizes, rather than guess)."""
    info = DATASETS.get(dataset.name)
    name = info.title if info is not None else dataset.name
    if dataset.name == FOLDER:  # your own images: say where they are and at what size
        name = f"images in {dataset.path} at {dataset.image_size or FOLDER_IMAGE_SIZE} px"
    if counts is None:
        return name
    return f"{name}, {counts[0]:,} train / {counts[1]:,} validation images"


def describe_budget(budget: BudgetConfig) -> str:
    aug = "crop + flip" if budget.augment else "no augmentation"
    return (f"{budget.epochs:g} epoch{'s' * (budget.epochs != 1)} at batch {budget.batch_size}, "
            f"lr {budget.lr}, {aug}")


def describe_latency(latency: LatencyConfig, profile: Mapping[str, Any] | None = None) -> str:
    threads = latency.threads
    setting = f"batch {latency.batch_size}, {threads} thread{'s' * (threads != 1)}"
    predicted = "" if profile is None else (
        f"predicted for {profile.get('device')} from the profile {profile.get('path')} (sha256 "
        f"{str(profile.get('sha256'))[:12]}; {check_text(profile.get('check'))})")
    if latency.backend == "profile":
        return f"latency {predicted}, {setting}"
    timed = (f"latency on {latency.device.upper()}"
             f"{' in ONNX Runtime' if latency.backend == 'onnxruntime' else ''}, {setting}")
    return f"{timed}; also {predicted}" if predicted else timed


def describe_backbone(backbone: BackboneConfig) -> str:
    settings = ", ".join(f"{k} {v}" for k, v in backbone.settings().items())
    weights = f", from {backbone.weights}" if backbone.weights else ""
    return f"{backbone.name}" + (f" ({settings}{weights})" if settings or weights else "")
