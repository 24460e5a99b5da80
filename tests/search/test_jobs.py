"""--jobs N: worker processes sharing one study (journal file storage)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from reports.dashboard import main as dashboard_main
from search.export import main as export_main
from search.run import main
from search.study import finished_count
from studies import TrialRecord, study_claims
from studies.storage import make_storage

ROOT = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, name: str) -> optuna.Study:
    url = f"journal:///{(tmp_path / 'runs' / name / 'study.journal').resolve().as_posix().lstrip('/')}"
    return optuna.load_study(study_name=name, storage=make_storage(url))


def test_two_workers_share_one_study_and_recover_a_killed_one(tiny_space, fashion_dir, tmp_path,
                                                              monkeypatch) -> None:
    """--jobs 2: the study holds exactly n_trials distinct architectures; a worker killed in a
    trial fails it and the trial is re-queued once; the front is confirmed after the workers;
    the other commands find the study (a journal file) by its name alone."""
    space = tiny_space("jobs", n_trials=6, confirm="{seeds: 2, max_architectures: 1}")
    space.write_text(space.read_text().replace("epochs: 1", "epochs: 3"))  # trials of a few seconds
    # the parent runs in a thread of this process (its workers are real processes): one
    # interpreter and torch import fewer than a subprocess
    monkeypatch.chdir(tmp_path)
    result: list[int] = []
    parent = threading.Thread(target=lambda: result.append(main(["--space", str(space), "--jobs", "2",
                                                                 "--quiet"])), daemon=True)
    parent.start()
    journal = tmp_path / "runs/jobs/study.journal"
    victim = None
    deadline = time.time() + 120
    while victim is None and time.time() < deadline:
        time.sleep(0.3)
        if not journal.exists():
            continue
        running = [t for t in _load(tmp_path, "jobs").get_trials(states=(TrialState.RUNNING,))
                   if TrialRecord.of(t).worker is not None and TrialRecord.of(t).arch_key is not None]
        if running:
            victim = running[0]
    assert victim is not None, "no trial started"
    os.kill(TrialRecord.of(victim).worker, signal.SIGKILL)
    parent.join(timeout=300)
    assert result == [0]
    study = _load(tmp_path, "jobs")
    dead = study.trials[victim.number]
    assert dead.state == TrialState.FAIL and "died" in TrialRecord.of(dead).fail_reason
    retries = [t for t in study.trials if TrialRecord.of(t).retry_of == victim.number]
    assert len(retries) == 1 and retries[0].params == dead.params
    assert retries[0].state == TrialState.COMPLETE
    assert finished_count(study) == 6
    distinct = [t for t in study.trials if t.state == TrialState.COMPLETE
                and TrialRecord.of(t).duplicate_of is None and not TrialRecord.of(t).surplus]
    keys = [TrialRecord.of(t).arch_key for t in distinct]
    assert len(keys) == len(set(keys)) == 6  # no architecture evaluated twice
    assert len({TrialRecord.of(t).worker for t in study.trials} - {None}) == 2  # both workers ran trials
    # after the workers, the knee and the reference are confirmed to 2 seeds in the study
    claims = study_claims(study)
    assert claims.confirmed and claims.reference is not None and claims.reference.seeds == 2
    # ... in two training processes at once (one thread each, as the workers trained)
    assert "trainings (seeds 1), ~" in (log := (tmp_path / "runs/jobs/run.log").read_text())
    assert " on 2 processes" in log
    assert (tmp_path / "runs/jobs/dashboard.html").exists()
    # the other commands, in this process too (their CLIs are tested apart)
    assert export_main(["--study", "jobs", "--out", "b.yaml"]) == 0
    assert dashboard_main(["--study", "jobs", "--out", "d.html"]) == 0
    assert (tmp_path / "b.yaml").exists() and (tmp_path / "d.html").exists()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_dead_workers_trial_of_the_same_architecture_is_not_waited_for(tmp_path, monkeypatch) -> None:
    """A worker that samples the architecture another worker was training when it died must not
    wait for that trial forever: its heartbeat stopped, so it is failed (and re-queued once)."""
    import threading

    from search.objective import find_duplicate
    from studies import write_trial

    monkeypatch.setenv("ATTNAS_HEARTBEAT", "1")
    monkeypatch.setenv("ATTNAS_GRACE", "1")
    storage = make_storage(f"sqlite:///{tmp_path / 'hb.db'}")
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    dead = study.ask()
    write_trial(dead, arch_key="k", signature="s")
    storage.record_heartbeat(dead._trial_id)  # its worker's last heartbeat
    time.sleep(2.5)  # past the grace period
    live = study.ask()
    found: list[TrialRecord | None] = []
    waiter = threading.Thread(target=lambda: found.append(find_duplicate(study, live.number, "k", "s")),
                              daemon=True)
    waiter.start()
    waiter.join(timeout=30)
    assert not waiter.is_alive(), "waited for a trial whose worker is dead"
    assert found == [None]  # nothing to reuse: this trial trains the architecture itself
    assert study.trials[dead.number].state == TrialState.FAIL
