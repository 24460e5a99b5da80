"""The one call past Optuna's public API still works on every storage kind: this fails first
when an Optuna release changes it (issue 29)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from studies import make_storage
from studies.optuna_private import set_trial_attr


@pytest.mark.parametrize("kind", ["memory", "sqlite", "journal"])
def test_set_trial_attr_writes_another_processes_running_trial(kind: str, tmp_path: Path) -> None:
    storage = {"memory": optuna.storages.InMemoryStorage(),
               "sqlite": make_storage(f"sqlite:///{tmp_path / 's.db'}"),
               "journal": make_storage(f"journal://{tmp_path / 'j.log'}")}[kind]
    study = optuna.create_study(storage=storage, study_name="s")
    study.ask()
    frozen = study.get_trials(deepcopy=False)[0]
    set_trial_attr(study, frozen, "fail_reason", "worker died")
    set_trial_attr(study, frozen, "sampler:generation", 3, system=True)
    study.tell(frozen.number, state=TrialState.FAIL)
    again = optuna.load_study(study_name="s", storage=storage).trials[0]
    assert again.user_attrs == {"fail_reason": "worker died"}
    assert again.system_attrs["sampler:generation"] == 3
    with pytest.raises(UpdateFinishedTrialError):
        set_trial_attr(study, again, "late", 1)
