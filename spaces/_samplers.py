"""The samplers a space may name, once: what each is, how Optuna builds it, and the facts the
rest of the project reads (the one place a sampler's name is spelled).

Torch- and Optuna-free like the rest of ``spaces``: ``search.study`` builds the sampler from
``optuna_class`` and ``kwargs``; the schema's allowed values and the validator's checks come
from this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SamplerInfo:
    """One sampler.

    Attributes:
        name: What a space file's ``search.sampler`` and ``--sampler`` say.
        optuna_class: The ``optuna.samplers`` class that draws its trials.
        kwargs: Passed to it with the seed (Optuna's defaults, written out so that what the
            run prints about its random start is true).
        random_start: Trials it draws at random before its model takes part (None: it has no
            model); the reference trials count.
        random_start_words: What those trials are called in the note about them.
        learns_from_results: Whether it fits a model to the results it sees, and so can learn
            from the highest rung alone (``fidelity.learn_from: highest``); the others keep
            their own bookkeeping over the study (NSGA-II's generations, the grid's cells).
        enumerates: Every architecture of the space is enqueued once (the trials' order is
            random); the space must be small enough.
        experimental: Optuna marks the options used here experimental (its warning is muted).
    """

    name: str
    optuna_class: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    random_start: int | None = None
    random_start_words: str = "first trials"
    learns_from_results: bool = False
    enumerates: bool = False
    experimental: bool = False


SAMPLER_TABLE: tuple[SamplerInfo, ...] = (
    SamplerInfo("tpe", "TPESampler", {"multivariate": True, "group": True, "n_startup_trials": 10},
                random_start=10, learns_from_results=True, experimental=True),
    SamplerInfo("nsga2", "NSGAIISampler", {"population_size": 50}, random_start=50,
                random_start_words="first generation"),
    SamplerInfo("random", "RandomSampler"),
    SamplerInfo("grid", "RandomSampler", enumerates=True),  # search.study.enqueue_grid
    # conditional hyper-parameters fall outside the GP's joint space: sampled independently
    SamplerInfo("gp", "GPSampler", {"warn_independent_sampling": False, "n_startup_trials": 10},
                random_start=10, learns_from_results=True, experimental=True),
)
SAMPLERS: tuple[str, ...] = tuple(s.name for s in SAMPLER_TABLE)
DEFAULT_SAMPLER = SAMPLERS[0]


def sampler_info(name: str) -> SamplerInfo:
    """The sampler called ``name``.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    for s in SAMPLER_TABLE:
        if s.name == name:
            return s
    raise ValueError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")
