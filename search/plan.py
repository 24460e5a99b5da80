"""The run plan: what one search run does, decided once and passed down.

``search.pipeline.run_search`` builds it from the space and the command line; the objective
(``search.objective.Objective``), the worker loop (``search._workers.work``, one process or
many), the time budget's rule (``search.budget.search_stop_reason``) and confirmation
(``search.confirm``) read it, and none of them rebuilds what it holds: the rungs, the search's
and confirmation's seeds, the rungs' cost ratios, whether a baseline is timed beside each
candidate, the device, the jobs, the time budget -- and the trainer, so that a test or a
benchmark hands a search its fake or cached trainer instead of patching modules.

A plan is picklable (its trainer a module-level function or an instance of a module-level
class): ``--jobs N`` sends it to each worker process.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import torch

from search.budget import TimeBudget
from search.rungs import Rung, rungs_of, top_cost_ratio
from search.training import Trainer, train_seed
from spaces import SearchSpace


@dataclass(frozen=True)
class RunPlan:
    """One search run. Only ``space`` and ``device`` are needed to evaluate architectures
    (benchmarks build such a plan); the rest is where the run keeps its study and how it runs."""

    space: SearchSpace
    device: torch.device
    train: Trainer = train_seed  # every training of the run: trials, promotions, confirmation
    n_trials: int | None = None  # the distinct evaluations to reach; None: no cap is claimed
    jobs: int = 1  # worker processes sharing the study
    budget: TimeBudget = field(default_factory=lambda: TimeBudget(None))
    study_name: str = ""
    out: Path = Path(".")
    storage: str = ""
    sampler: str | None = None  # --sampler; None: the space's search.sampler
    seed: int | None = None  # the sampler's seed (--seed); None: the space's search.seed
    timeout: float | None = None  # --timeout, seconds of trials
    shared: bool = False  # the storage is the user's: other processes may run trials in it
    baselines: bool = True  # enqueue the reference trials when the study is created
    quiet: bool = False

    @property
    def sampler_name(self) -> str:
        return self.sampler or self.space.config.search.sampler

    @property
    def sampler_seed(self) -> int:
        return self.space.config.search.seed if self.seed is None else self.seed

    @cached_property
    def rungs(self) -> list[Rung] | None:
        """The space's rungs, cheapest first; None for a single-fidelity space."""
        return rungs_of(self.space)

    @cached_property
    def top_cost_ratio(self) -> dict[int, float] | None:
        """Rung -> one top-rung training's cost over one at that rung (``search.rungs``)."""
        return top_cost_ratio(self.space)

    @property
    def rung_seeds(self) -> list[int] | None:
        """Trainings per trial at each rung; None for a single-fidelity space."""
        return None if self.rungs is None else [len(r.seeds) for r in self.rungs]

    @property
    def search_seeds(self) -> list[int]:
        """A search trial's training seeds: ``search.seed`` and the ``search.seeds - 1`` after it."""
        cfg = self.space.config.search
        return [cfg.seed + i for i in range(cfg.seeds)]

    @property
    def confirm_seeds(self) -> list[int]:
        """The seeds every confirmed architecture is trained with (the search's own included)."""
        cfg = self.space.config
        return [] if cfg.confirm is False else [cfg.search.seed + i for i in range(cfg.confirm.seeds)]

    @property
    def needs_baseline(self) -> bool:
        """Whether the no-attention backbone is timed beside each candidate."""
        cfg = self.space.config
        if cfg.latency.backend == "profile":  # predicted: nothing is timed
            return False
        return cfg.latency.relative or "latency_ratio" in set(cfg.objectives) | set(cfg.constraints)

    def for_worker(self) -> RunPlan:
        """This plan for a worker process: the time budget restarted at what is left now (a
        monotonic start is this process's)."""
        left = None if self.budget.seconds is None else self.budget.remaining()
        return replace(self, budget=TimeBudget(left))
