"""The run plan (search.plan): the run's facts decided once, its trainer handed to every
training of the run -- in this process and in ``--jobs N`` workers -- and the space's own
``search.baselines`` kept."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import torch

from models import Architecture
from runners.catalog import model_catalog
from search.plan import RunPlan
from search.run import main
from search.rungs import rungs_of, top_cost_ratio
from spaces import load_space
from studies import default_storage, load_existing_study, records
from tests.helpers import FakeTrainer

RUNGS = "fidelity: {rungs: [{epochs: 1, train_subset: 100}, {epochs: 2, seeds: 2}], eta: 3}\n"


def test_the_plan_holds_the_runs_facts_once_and_pickles(tiny_space) -> None:
    path = tiny_space("p", extra=RUNGS, confirm="{seeds: 3}")
    path.write_text(path.read_text().replace("latency: {device: cpu,", "latency: {relative: true, device: cpu,"))
    space = load_space(path, catalog=model_catalog())
    plan = RunPlan(space, torch.device("cpu"), train=FakeTrainer(), n_trials=4)
    assert plan.rungs == rungs_of(space) and plan.top_cost_ratio == top_cost_ratio(space)
    assert plan.rung_seeds == [1, 2] and plan.search_seeds == [0] and plan.confirm_seeds == [0, 1, 2]
    assert plan.needs_baseline and plan.sampler_name == "tpe" and plan.sampler_seed == 0
    again = pickle.loads(pickle.dumps(plan.for_worker()))  # what --jobs N sends each worker
    assert again.space.sha256 == space.sha256 and isinstance(again.train, FakeTrainer)
    assert again.rungs == plan.rungs and again.budget.seconds is None


def _fake_accuracy(arch: dict, *, images: int) -> float:
    """What ``FakeTrainer`` returns for ``arch`` at 1 epoch on ``images`` images with seed 0."""
    space = SimpleNamespace(config=SimpleNamespace(budget=SimpleNamespace(epochs=1)))
    return FakeTrainer()(Architecture.from_dict(arch), space, SimpleNamespace(train_y=[0] * images),
                         seed=0, device=torch.device("cpu"))["accuracy"]


def test_workers_train_with_the_trainer_the_run_was_given(tiny_space, fashion_dir, tmp_path,
                                                         monkeypatch) -> None:
    # two spawned worker processes: the plan, its trainer included, is what each one gets
    monkeypatch.chdir(tmp_path)
    path = tiny_space("jobs", n_trials=4)
    assert main(["--space", str(path), "--quiet", "--jobs", "2"], trainer=FakeTrainer()) == 0
    study = load_existing_study("jobs", default_storage(tmp_path / "runs" / "jobs", jobs=2))
    trained = [r for r in records(study) if r.is_original]
    assert len(trained) == 4
    for r in trained:  # 400 images less the 25% validation split train
        assert r.accuracy == _fake_accuracy(r.arch, images=300)


def test_the_spaces_search_baselines_false_enqueues_no_reference(tiny_space, fashion_dir, tmp_path,
                                                                  monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    on, off = tiny_space("refs", n_trials=2), tiny_space("norefs", n_trials=2)
    off.write_text(off.read_text().replace("seed: 0}", "seed: 0, baselines: false}"))
    for path in (on, off):
        assert main(["--space", str(path), "--quiet"], trainer=FakeTrainer()) == 0
    refs = {name: [r.reference for r in records(load_existing_study(
        name, default_storage(tmp_path / "runs" / name))) if r.reference is not None]
        for name in ("refs", "norefs")}
    assert refs["refs"] and refs["norefs"] == []
