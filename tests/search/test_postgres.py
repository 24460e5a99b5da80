"""Several workers on one study through a real PostgreSQL server (issue: scaling out)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from search.study import finished_count
from studies import TrialRecord

ROOT = Path(__file__).resolve().parents[2]


def _worker(space: Path, url: str, name: str, cwd: Path, data: Path, n: int,
            **env: str) -> subprocess.Popen:
    """One machine's command: python -m search.run --storage postgresql://... --study-name S."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "ATTNAS_DATA": str(data), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "search.run", "--space", str(space), "--storage", url,
         "--study-name", name, "--n-trials", str(n), "--quiet", "--out", str(cwd / f"out-{n}-{time.time_ns()}")],
        cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _distinct(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if t.state == TrialState.COMPLETE
            and TrialRecord.of(t).duplicate_of is None]


def test_two_machines_share_one_study(postgres_url, tiny_space, fashion_dir, tmp_path) -> None:
    """Two processes started with the same command and --storage postgresql://... (as on two
    machines) create or join one study, split its n_trials and never train an architecture twice."""
    space = tiny_space("pg3", n_trials=6)
    procs = [_worker(space, postgres_url, "pg3", tmp_path, fashion_dir, 6) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="pg3", storage=postgres_url)
    assert finished_count(study) == 6
    keys = [TrialRecord.of(t).arch_key for t in _distinct(study)]
    assert len(keys) == len(set(keys)) == 6  # no architecture evaluated twice
    assert len({TrialRecord.of(t).worker for t in _distinct(study)}) == 2  # both did some
    assert [TrialRecord.of(t).reference for t in study.trials].count("no attention") == 1


@pytest.mark.slow  # ~30 s; the default run covers heartbeats with test_jobs' dead-worker test (SQLite)
def test_killed_worker_trial_is_failed_and_rerun(postgres_url, tiny_space, fashion_dir, tmp_path) -> None:
    space = tiny_space("pgkill", n_trials=6)
    space.write_text(space.read_text().replace("epochs: 1", "epochs: 6"))  # trials of a few seconds
    beat = {"ATTNAS_HEARTBEAT": "1", "ATTNAS_GRACE": "4"}
    procs = [_worker(space, postgres_url, "pgkill", tmp_path, fashion_dir, 6, **beat) for _ in range(2)]
    victim = None
    deadline = time.time() + 120
    while victim is None and time.time() < deadline:
        time.sleep(0.5)
        try:
            study = optuna.load_study(study_name="pgkill", storage=postgres_url)
        except KeyError:
            continue
        running = [t for t in study.get_trials(states=(TrialState.RUNNING,))
                   if TrialRecord.of(t).arch_key is not None]
        victim = running[0] if running else None
    assert victim is not None, "no trial started"
    os.kill(TrialRecord.of(victim).worker, signal.SIGKILL)
    survivor = [p for p in procs if p.pid != TrialRecord.of(victim).worker]
    assert len(survivor) == 1
    _, err = survivor[0].communicate(timeout=300)
    assert survivor[0].returncode == 0, err
    study = optuna.load_study(study_name="pgkill", storage=postgres_url)
    assert study.trials[victim.number].state == TrialState.FAIL
    with warnings.catch_warnings():  # "experimental" in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        reruns = [t for t in study.trials
                  if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == victim.number]
    assert len(reruns) == 1 and reruns[0].params == victim.params
    assert finished_count(study) == 6
    keys = [TrialRecord.of(t).arch_key for t in _distinct(study)]
    assert len(keys) == len(set(keys))


def test_two_machines_share_one_set_of_rungs(postgres_url, tiny_space, fashion_dir, tmp_path) -> None:
    """A multi-fidelity study on PostgreSQL: both machines promote through the storage, and no
    promotion is trained twice."""
    space = tiny_space("pgrungs", n_trials=8, extra=(
        "fidelity: {rungs: [{epochs: 1, train_subset: 100}, {epochs: 2, train_subset: 300}]}\n"))
    procs = [_worker(space, postgres_url, "pgrungs", tmp_path, fashion_dir, 8) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="pgrungs", storage=postgres_url)
    promoted = [TrialRecord.of(t).promoted_from for t in _distinct(study) if TrialRecord.of(t).rung]
    assert promoted and len(promoted) == len(set(promoted))
    assert finished_count(study) == 8  # architectures, not their promotions
    assert len({TrialRecord.of(t).worker for t in _distinct(study)}) == 2
