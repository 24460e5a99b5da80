"""Per-epoch checkpoints of one training, so that an interrupted full training continues from
its last finished epoch to the result an uninterrupted one reaches
(``runners.trainer.train_proxy(checkpoint=PATH)``; ``runners.train`` uses it).

A checkpoint holds the weights, the optimiser's state, the weight average, the private
generator that draws the data order and augmentation, the step count, the epoch losses and the
seconds trained, written atomically (a copy, then a rename) after each epoch. It carries the
training's identity (settings, seed, training images, the model's parameter names and shapes):
one of another training is refused, never continued.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from errors import UserError


class CheckpointMismatch(UserError, ValueError):
    """The checkpoint file belongs to another training."""


def training_identity(model: nn.Module, budget_settings: dict, *, seed: int, train_images: int) -> dict:
    """What must be equal for a checkpoint to continue this training."""
    shapes = ";".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    return {"settings": budget_settings, "seed": seed, "train_images": train_images,
            "model": hashlib.sha256(shapes.encode()).hexdigest()}


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, identity: dict, *, device: torch.device) -> dict | None:
    """The checkpoint at ``path`` if there is one (None if not).

    Raises:
        CheckpointMismatch: it is of another training (which setting differs is named).
    """
    if not path.exists():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    theirs = state.get("identity", {})
    if theirs != identity:
        keys = sorted({*theirs, *identity} - {"settings"})
        differ = [k for k in keys if theirs.get(k) != identity.get(k)]
        settings = {**theirs.get("settings", {}), **identity["settings"]}
        differ += [f"settings.{k} ({theirs.get('settings', {}).get(k)!r} there, "
                   f"{identity['settings'].get(k)!r} here)" for k in sorted(settings)
                   if theirs.get("settings", {}).get(k) != identity["settings"].get(k)]
        raise CheckpointMismatch(
            f"{path} is the checkpoint of another training ({', '.join(differ) or 'unreadable'} "
            "differ); delete it to start afresh, or train into another --out")
    return state
