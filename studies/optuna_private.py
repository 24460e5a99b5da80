"""The one place that reaches past Optuna's public API (issue 29).

Optuna's public API writes an attribute only to the trial in hand (``optuna.Trial``
inside an objective). Two things this project does have no public way:

- failing a trial whose worker died (``search.study.fail_trial``) with its reason, a user
  attribute, written before ``study.tell`` finishes it;
- copying back a system attribute that a sampler wrote to the running trial's copy in a
  rung's view study (``search.rungs.RungSampler``): NSGA-II's generation, the grid point.

Both go through ``set_trial_attr``, so a change of Optuna's storage interface breaks one
function, and ``tests/studies/test_optuna_private.py`` says so on every storage kind. No other
product module may touch a private member of Optuna (``tests/test_public_optuna.py``).
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial


def set_trial_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any, *,
                   system: bool = False) -> None:
    """Set user (or, with ``system``, system) attribute ``key`` of unfinished ``trial`` of
    ``study`` to ``value``, through the study's storage.

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: the trial has finished.
    """
    storage = study._storage  # noqa: SLF001 - the one isolated use, see the module docstring
    write = storage.set_trial_system_attr if system else storage.set_trial_user_attr
    write(trial._trial_id, key, value)  # noqa: SLF001
