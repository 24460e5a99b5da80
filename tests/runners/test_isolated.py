"""Trainings in a child process (runners.isolated): the same numbers as in the caller's process,
odd and even batch sizes at 1 and 2 threads, and a crash that fails one training, not the search
(issue 29: a search with batch_size 25 on 2 threads died of SIGSEGV with no message)."""

from __future__ import annotations

import functools
import os
import signal
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from runners.data import load_proxy_data
from runners.isolated import TrainingCrashed, TrainingPool, describe_exit
from runners.trainer import TrainingDiverged, train_architecture
from search.run import main
from search.training import train_seed
from spaces import BudgetConfig
from studies import TrialRecord, default_storage, make_storage
from tests.helpers import crash_on_se, small_arch


@pytest.fixture(scope="module")
def pool():
    p = TrainingPool(1)
    yield p
    p.close()


def _segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)  # run in the child: its own pid


def _diverge() -> None:
    raise TrainingDiverged("training loss became nan by step 3")


@pytest.mark.parametrize("batch_size", [23, 24, 25, 27])
@pytest.mark.parametrize("threads", [1, 2])
def test_odd_and_even_batches_train_in_a_child_as_in_process(fashion_dir, pool, batch_size: int,
                                                             threads: int) -> None:
    data = load_proxy_data(name="fashion-mnist", train_subset=400, val_fraction=0.25, seed=0,
                           download=False)
    budget = BudgetConfig(epochs=1, batch_size=batch_size, lr=0.05)
    arch = small_arch("se")
    child = pool.call(train_architecture, arch, data, budget=budget, seed=0,
                      device=torch.device("cpu"), threads=threads)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        here = train_architecture(arch, data, budget=budget, seed=0, device=torch.device("cpu"))
    finally:
        torch.set_num_threads(before)
    assert child["accuracy"] == here["accuracy"] and child["val_loss"] == here["val_loss"]
    assert 0.0 <= child["accuracy"] <= 1.0


def test_a_crash_is_named_and_the_next_call_gets_a_new_process(pool) -> None:
    with pytest.raises(TrainingCrashed, match=r"the training process died: SIGSEGV \(a segmentation "
                                              r"fault in native code\)"):
        pool.call(_segfault)
    assert pool.call(sum, [1, 2]) == 3


def test_what_the_call_raises_is_raised_in_the_caller(pool) -> None:
    with pytest.raises(TrainingDiverged, match="became nan"):
        pool.call(_diverge)
    results = dict(TrainingPool(2).map_unordered(divmod, [((7, 2), {}), ((1, 0), {})]))
    assert results[0] == (3, 1) and isinstance(results[1], ZeroDivisionError)


def test_exit_codes_in_words() -> None:
    assert describe_exit(-signal.SIGKILL) == "SIGKILL (killed (the out-of-memory killer, or kill -9))"
    assert describe_exit(3) == "exit code 3 without a result"


def test_a_crashed_training_fails_its_trial_with_the_reason_and_the_search_goes_on(
        tiny_space, fashion_dir, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    path = tiny_space("crash", n_trials=3)
    # train_seed as the run would call it, with a training that dies in the training process
    assert main(["--space", str(path), "--quiet"], trainer=functools.partial(train_seed, fit=crash_on_se)) == 0
    study = optuna.load_study(study_name="crash", storage=make_storage(
        default_storage(tmp_path / "runs" / "crash")))
    recs = [TrialRecord.of(t) for t in study.trials]
    crashed = [r for r in recs if r.state == TrialState.FAIL]
    assert crashed and all(
        r.fail_reason.startswith("the training process died: SIGSEGV (a segmentation fault in native "
                                 f"code), training {r.arch_short} with seed 0 at batch_size 50 with ")
        and r.arch_short == "se(r=16)|se(r=16)|se(r=16)" for r in crashed)
    assert any(r.state == TrialState.COMPLETE for r in recs)  # the search went on after a crash
    assert (tmp_path / "runs" / "crash" / "best.yaml").exists()
