"""The dashboard header's settings in words, from the study's stored space: the data, the
proxy budget, how latency was measured, the backbone (``reports.dashboard``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from spaces import DATASETS, FOLDER, FOLDER_IMAGE_SIZE, DatasetConfig
from stats import check_text


def describe_data(dataset: dict, counts: tuple[int, int] | None) -> str:
    info = DATASETS.get(dataset.get("name", ""))
    name = info.title if info is not None else str(dataset.get("name", "?"))
    if dataset.get("name") == FOLDER:  # your own images: say where they are and at what size
        name = f"images in {dataset.get('path')} at {dataset.get('image_size') or FOLDER_IMAGE_SIZE} px"
    if counts is None and info is not None:  # a study stopped before it recorded its data sizes
        try:
            counts = DatasetConfig.model_validate(dataset).split_sizes()
        except ValidationError:  # written by another version of the schema: sizes unknown
            counts = None
    if counts is None:
        return name
    return f"{name}, {counts[0]:,} train / {counts[1]:,} validation images"


def describe_budget(budget: dict) -> str:
    epochs = budget.get("epochs", "?")
    aug = "crop + flip" if budget.get("augment", True) else "no augmentation"
    return (f"{epochs:g} epoch{'s' * (epochs != 1)} at batch {budget.get('batch_size', '?')}, "
            f"lr {budget.get('lr', '?')}, {aug}") if isinstance(epochs, (int, float)) else "?"


def describe_latency(latency: dict, profile: Mapping[str, Any] | None = None) -> str:
    threads = latency.get("threads", 1)
    setting = f"batch {latency.get('batch_size', 1)}, {threads} thread{'s' * (threads != 1)}"
    predicted = "" if profile is None else (
        f"predicted for {profile.get('device')} from the profile {profile.get('path')} (sha256 "
        f"{str(profile.get('sha256'))[:12]}; {check_text(profile.get('check'))})")
    if latency.get("backend") == "profile":
        return f"latency {predicted}, {setting}"
    timed = (f"latency on {str(latency.get('device', 'cpu')).upper()}"
             f"{' in ONNX Runtime' if latency.get('backend') == 'onnxruntime' else ''}, {setting}")
    return f"{timed}; also {predicted}" if predicted else timed


def describe_backbone(backbone: dict) -> str:
    settings = ", ".join(f"{k} {v}" for k, v in backbone.items() if k != "name")
    return f"{backbone.get('name', '?')}" + (f" ({settings})" if settings else "")
