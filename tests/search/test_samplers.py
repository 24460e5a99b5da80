from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from runners.catalog import model_catalog
from search.run import main
from search.sampling import (
    enumerate_params,
    params_to_architecture,
    reference_trials,
    suggest_architecture,
)
from search.study import make_sampler, random_start_note
from spaces import load_space, sampler_info
from studies import TrialRecord

ROOT = Path(__file__).resolve().parents[2]
SHAPE = {"in_channels": 1, "input_size": 28, "num_classes": 10}


def test_enumeration_covers_the_space_exactly(tiny_space) -> None:
    path = tiny_space("enum")
    path.write_text(path.read_text() + "    blocks: [all, last]\n")
    space = load_space(path, catalog=model_catalog())
    params = enumerate_params(space)
    keys = {params_to_architecture(space, p, **SHAPE).key() for p in params}
    assert len(params) == len(keys) == space.size() == (1 + 2 * 2 + 2 * 2) ** 3


def test_conv_choices_are_enumerated_sampled_and_get_a_reference(tiny_space) -> None:
    path = tiny_space("conv")
    path.write_text(path.read_text() + "    conv: {standard: {}, odconv: {kernel_num: [1, 4]}}\n")
    space = load_space(path, catalog=model_catalog())
    params = enumerate_params(space)
    archs = [params_to_architecture(space, p, **SHAPE) for p in params]
    assert len(params) == len({a.key() for a in archs}) == space.size() == ((1 + 2 + 2) * 3) ** 3
    assert {s.conv for a in archs for s in a.stages} == {"standard", "odconv"}
    refs, skipped = reference_trials(space)
    labels = [label for label, _ in refs]
    assert labels == ["no attention", "se everywhere", "odconv everywhere"]
    assert skipped == ["eca everywhere"]  # its paper default (auto) is outside [3, 5]
    odconv = params_to_architecture(space, refs[-1][1], **SHAPE)
    assert odconv.short() == "|".join(["odconv(n=4,ratio=0.0625)"] * 3)


def test_a_reference_without_its_paper_default_takes_the_nearest_allowed_value(tiny_space) -> None:
    # issue 31: "CA everywhere" vanished from a space that allows ca reduction 8 and 16 only
    path = tiny_space("near")
    path.write_text(path.read_text() + "      ca: {reduction: [8, 16]}\n")
    space = load_space(path, catalog=model_catalog())
    refs, skipped = reference_trials(space)
    labels = dict(refs)
    label = "ca everywhere (nearest allowed: reduction 16 for the paper's 32)"
    assert label in labels and skipped == ["eca everywhere"]  # eca's auto has no number near it
    assert params_to_architecture(space, labels[label], **SHAPE).short() == "|".join(["ca(r=16)"] * 3)
    assert "se everywhere" in labels  # a default the space has: unchanged, unlabelled


def _sequence(space, sampler: str, seed: int, n: int) -> list[str]:
    study = optuna.create_study(directions=space.directions,
                                sampler=make_sampler(space, name=sampler, seed=seed))
    out = []
    for i in range(n):
        t = study.ask()
        arch = suggest_architecture(t, space, **SHAPE)
        out.append(arch.short())
        study.tell(t, [len(arch.short()) / 100 + i / 1000, float(len(out))])
    return out


def test_tpe_is_random_search_for_its_random_start(tiny_space) -> None:
    """What random_start_note tells the user: TPE's first ``random_start`` trials are the random
    sampler's, draw for draw; after them its model takes part."""
    space = load_space(tiny_space("start"), catalog=model_catalog())
    n = sampler_info("tpe").random_start
    tpe, rnd = _sequence(space, "tpe", 3, n + 6), _sequence(space, "random", 3, n + 6)
    assert tpe[:n] == rnd[:n]
    assert tpe[n:] != rnd[n:]


def test_random_start_note_names_the_sampler_and_the_limit() -> None:
    note = random_start_note("tpe", 10)
    assert note is not None and "random search" in note and "more than 10 trials" in note
    assert random_start_note("tpe", 11) is None
    assert "first generation" in random_start_note("nsga2", 36)  # NSGA-II: a generation of 50
    assert random_start_note("nsga2", 51) is None
    assert random_start_note("gp", 4) is not None
    assert random_start_note("random", 3) is None and random_start_note("grid", 3) is None


def test_the_dry_run_says_when_the_search_is_random(tiny_space, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--space", str(tiny_space("few", n_trials=4)), "--dry-run"]) == 0
    assert "tpe draws its first trials at random (10 trials" in capsys.readouterr().out


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random", "gp"])
def test_same_seed_same_sequence(tiny_space, sampler: str) -> None:
    space = load_space(tiny_space("seq"), catalog=model_catalog())
    assert _sequence(space, sampler, 0, 12) == _sequence(space, sampler, 0, 12)
    assert _sequence(space, sampler, 0, 12) != _sequence(space, sampler, 1, 12)


def test_grid_evaluates_every_architecture_once(tiny_space, fashion_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tiny_space("grid", n_trials=50)
    text = path.read_text().split("stages:")[0]
    # two choices in two stages, the third pinned: 4 architectures
    path.write_text(text + "stages:\n  all:\n    attention: {none: {}, se: {reduction: 4}}\n"
                    "  stage3:\n    attention: {none: {}}\n")
    assert main(["--space", str(path), "--quiet", "--sampler", "grid", "--no-baselines"]) == 0
    study = optuna.load_study(study_name="grid", storage=f"sqlite:///{tmp_path / 'runs/grid/study.db'}")
    originals = [TrialRecord.of(t).arch_short for t in study.trials if TrialRecord.of(t).duplicate_of is None]
    assert sorted(originals) == sorted(set(originals)) and len(originals) == 4


def test_ctrl_c_keeps_finished_trials_and_exits_130(tiny_space, fashion_dir, tmp_path) -> None:
    path = tiny_space("intr", n_trials=200)
    path.write_text(path.read_text().replace("epochs: 1", "epochs: 2"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "search.run", "--space", str(path), "--quiet"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    log = tmp_path / "runs/intr/run.log"
    deadline = time.time() + 90
    while time.time() < deadline and (not log.exists() or log.read_text().count(" acc ") < 1):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    study = optuna.load_study(study_name="intr", storage=f"sqlite:///{tmp_path / 'runs/intr/study.db'}")
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) >= 1
    assert optuna.trial.TrialState.RUNNING not in states
    assert (tmp_path / "runs/intr/dashboard.html").exists()
    assert (tmp_path / "runs/intr/best.yaml").exists()
    assert "interrupted" in log.read_text()


BOOT_WITH_BADLY_TIMED_CTRL_C = """
import runpy, sys
from optuna.storages import _heartbeat
real_start, started = _heartbeat.HeartbeatThread.start, []

def start(self):
    real_start(self)  # the heartbeat thread runs ...
    started.append(1)
    if len(started) == 2:  # ... and Ctrl-C lands before the trial's `with` block is entered
        raise KeyboardInterrupt

_heartbeat.HeartbeatThread.start = start
sys.argv = ["search.run", "--space", sys.argv[1], "--quiet"]
runpy.run_module("search.run", run_name="__main__")
"""


def _run_interrupted(boot: str, path: Path, tmp_path: Path) -> optuna.Study:
    """Run ``boot`` (a search whose Ctrl-C is timed by a patch) on space ``path``; check that it
    exits 130 without a traceback, keeps its outputs and fails exactly one trial as interrupted
    (not left "running" for the next run); the study."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", boot, str(path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (tmp_path / f"runs/{path.stem}/best.yaml").exists()
    study = optuna.load_study(study_name=path.stem,
                              storage=f"sqlite:///{tmp_path / f'runs/{path.stem}/study.db'}")
    interrupted = [t for t in study.trials if t.state != optuna.trial.TrialState.COMPLETE]
    assert [(t.state, TrialRecord.of(t).fail_reason) for t in interrupted] == [
        (optuna.trial.TrialState.FAIL, "interrupted (Ctrl-C)")]
    return study


def test_ctrl_c_while_a_heartbeat_starts_still_exits(tiny_space, fashion_dir, tmp_path) -> None:
    """Optuna's heartbeat thread is not a daemon: a Ctrl-C inside its start left it running and
    the process waiting for it forever after writing its outputs."""
    _run_interrupted(BOOT_WITH_BADLY_TIMED_CTRL_C, tiny_space("hb", n_trials=20), tmp_path)


BOOT_WITH_CTRL_C_IN_TELL = """
import runpy, sys
from optuna.study import _optimize
real_tell, calls = _optimize._tell_with_warning, []

def tell(**kwargs):
    calls.append(1)
    if len(calls) == 2:  # Ctrl-C lands while Optuna stores the second trial's result
        raise KeyboardInterrupt
    return real_tell(**kwargs)

_optimize._tell_with_warning = tell
sys.argv = ["search.run", "--space", sys.argv[1], "--quiet"]
runpy.run_module("search.run", run_name="__main__")
"""


def test_ctrl_c_while_optuna_stores_a_result_still_exits_130(tiny_space, fashion_dir, tmp_path) -> None:
    """Optuna 5.1's _run_trial turns a Ctrl-C inside its tell into an UnboundLocalError (its
    ``finally`` reads a variable the interrupted assignment never bound): exit code 1 and a
    traceback, found by sending Ctrl-C at 0.07 s steps after the first trial."""
    study = _run_interrupted(BOOT_WITH_CTRL_C_IN_TELL, tiny_space("tell", n_trials=20), tmp_path)
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE


BOOT_WITH_CTRL_C_IN_A_FINALIZER = """
import os, runpy, signal, sys
from optuna.storages import _heartbeat
real_start, started = _heartbeat.HeartbeatThread.start, []

class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs inside this finalizer, so
        for _ in range(100_000):             # its KeyboardInterrupt is "ignored" by Python
            pass

def start(self):
    real_start(self)
    started.append(1)
    if len(started) == 2:  # as the second trial starts, a finalizer runs (as gc runs them)
        Finalized()

_heartbeat.HeartbeatThread.start = start
sys.argv = ["search.run", "--space", sys.argv[1], "--quiet"]
runpy.run_module("search.run", run_name="__main__")
"""


def test_ctrl_c_that_lands_in_a_finalizer_still_stops_the_search(tiny_space, fashion_dir, tmp_path) -> None:
    """Python reports a KeyboardInterrupt raised inside a finalizer or weakref callback as
    "Exception ignored" and goes on; seen in CI inside SQLAlchemy's _collection_gced, the search
    then ran all its trials past the Ctrl-C test's 60 s. The request is remembered and acted
    on before the next training; the ignored exception is not printed."""
    study = _run_interrupted(BOOT_WITH_CTRL_C_IN_A_FINALIZER, tiny_space("fin", n_trials=6), tmp_path)
    assert [t.state for t in study.trials].count(optuna.trial.TrialState.COMPLETE) == 1


def test_a_library_error_caused_by_ctrl_c_prints_no_traceback() -> None:
    # SQLAlchemy logs "Error closing cursor" when Ctrl-C lands inside a fetch; with no handler of
    # its own the record goes to logging.lastResort (stderr). Its exception was raised while
    # handling the interrupt.
    import logging
    import sys

    from search.progress import quiet_interrupts

    quiet_interrupts()

    def record(message: str, exc_info) -> logging.LogRecord:
        return logging.LogRecord("sqlalchemy.pool.impl.QueuePool", logging.ERROR, __file__, 1,
                                 message, None, exc_info)

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("Cannot operate on a closed database.")  # noqa: B904
    except RuntimeError:
        during_interrupt = sys.exc_info()
    assert logging.lastResort is not None
    assert not logging.lastResort.filter(record("Error closing cursor", during_interrupt))
    assert logging.lastResort.filter(record("a real error", None))  # not from Ctrl-C: shown


def test_every_sampler_of_the_table_is_built_as_it_says(tiny_space) -> None:
    from spaces import SAMPLER_TABLE

    space = load_space(tiny_space("table"), catalog=model_catalog())
    for info in SAMPLER_TABLE:
        sampler = make_sampler(space, name=info.name, seed=0)
        assert type(sampler).__name__ == info.optuna_class
    # that TPE's random start is the one the note states: test_tpe_is_random_search_for_its_random_start
