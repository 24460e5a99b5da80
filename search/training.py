"""One proxy training of one architecture with one seed: the default trainer of a run plan
(``search.plan.RunPlan.train``), and what fails a training without ending the search.

A run plan carries its trainer, so tests and benchmarks hand a search a fake or a cached one
(``tests.helpers.FakeTrainer``, ``bench.multifidelity_setup.CachedTrainer``) instead of patching
modules; every training of a search -- a trial's seeds, a promotion, a confirmation -- goes
through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from models import Architecture
from models.attention import get_attention_spec
from models.convs import get_conv_spec
from runners.data import ProxyData
from runners.isolated import TrainingCrashed, importable_in_child, in_process
from runners.isolated import pool as training_pool
from runners.trainer import TrainingDiverged, train_architecture
from search.interrupts import raise_if_requested
from spaces import BudgetConfig, SearchSpace

# what fails one training (and its trial) without ending the search
TRAINING_FAILURES = (TrainingDiverged, torch.OutOfMemoryError, TrainingCrashed)


class Trainer(Protocol):
    """``train_seed``'s signature: what a run plan's trainer is called with and returns."""

    def __call__(self, arch: Architecture, space: SearchSpace, data: ProxyData, *, seed: int,
                 device: torch.device, budget: BudgetConfig | None = None) -> dict: ...


def train_seed(arch: Architecture, space: SearchSpace, data: ProxyData, *, seed: int,
               device: torch.device, budget: BudgetConfig | None = None,
               fit: Callable[..., dict] = train_architecture) -> dict:
    """One proxy training of ``arch`` with ``seed``: shared initialisation, data order and
    augmentation all from ``seed`` (common random numbers across architectures). ``budget``:
    the space's own unless given (a rung's). ``fit``: what trains, with
    ``train_architecture``'s signature (a test's crashing stand-in runs where it would).

    On the CPU it runs in this process's training child (``runners.isolated``), at this
    process's thread count, so that a crash of the training fails this training, not the search.

    Returns ``accuracy``, ``val_loss``, ``train_seconds``, ``images_per_second``,
    ``step_path`` and ``graph_fallback`` (``runners.trainer.train_architecture``).

    Raises:
        TrainingDiverged, torch.OutOfMemoryError: as ``train_proxy``.
        runners.isolated.TrainingCrashed: the training process died (its signal named).
    """
    raise_if_requested()  # a Ctrl-C whose KeyboardInterrupt a finalizer swallowed (timing, storage)
    budget = budget or space.config.budget
    classes = _module_classes(arch)
    if device.type == "cuda" or in_process() or not importable_in_child(classes):
        return fit(arch, data, budget=budget, seed=seed, device=device)
    threads = torch.get_num_threads()
    try:
        return training_pool().call(fit, arch, data, budget=budget, seed=seed,
                                    device=device, threads=threads, registers=classes)
    except TrainingCrashed as e:
        raise TrainingCrashed(f"{e}, training {arch.short()} with seed {seed} at batch_size "
                              f"{budget.batch_size} with {threads} thread(s)") from None


def _module_classes(arch: Architecture) -> tuple[type, ...]:
    """The classes of ``arch``'s attention modules and convolutions: sent to a training process,
    their import there registers them (a module registered by the user's own code included)."""
    names = {(s.attention, s.conv) for s in arch.stages}
    return tuple(dict.fromkeys([get_attention_spec(a).cls for a, _ in names]
                               + [get_conv_spec(c).cls for _, c in names]))
