"""Multi-fidelity search (search.rungs): promotion by non-dominated sorting, asynchronous
promotion shared through the storage, resuming after a crash mid-rung, and bad fidelity blocks."""

from __future__ import annotations

import datetime
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from reports.rungs import RungData, RungPair, rung_summary
from runners.catalog import model_catalog
from search.budget import seconds_per_training, seconds_per_trial
from search.run import main
from search.rungs import RungSampler, learning_rung, next_promotion, rungs_of, top_cost_ratio
from spaces import load_space
from stats import kendall_tau
from studies import (
    TrialRecord,
    default_storage,
    make_storage,
    promotion_order,
    records,
    study_claims,
)
from tests.helpers import FakeTrainer

RUNGS = """\
fidelity:
  rungs:
    - {epochs: 1, train_subset: 100}
    - {epochs: 2, train_subset: 100}
    - {epochs: 2, train_subset: 300, seeds: 2}
  eta: 3
"""


def _space(tiny_space, name: str, n_trials: int, *, objectives: str = "[accuracy, params]") -> Path:
    path = tiny_space(name, n_trials=n_trials, extra=RUNGS)
    path.write_text(path.read_text().replace("objectives: [accuracy, latency_ms]",
                                             f"objectives: {objectives}"))
    return path


def _study(tmp_path: Path, name: str) -> optuna.Study:
    """The run's study, in the storage the run chose (a journal file for --jobs N)."""
    url = default_storage(tmp_path / "runs" / name)
    return optuna.load_study(study_name=name, storage=make_storage(url))


@pytest.fixture()
def fake() -> FakeTrainer:
    """A trainer handed to the run (``search.run.main(trainer=...)``): every training goes
    through it, and nothing is patched."""
    return FakeTrainer()


def test_promotion_order_is_non_dominated_sorting_then_crowding() -> None:
    # (accuracy up, cost down): 0, 1, 2 and 4 are the front; 5 is dominated by 0; 3 by all
    v = [(0.9, 2.0), (0.8, 1.0), (0.85, 1.5), (0.7, 3.0), (0.86, 1.6), (0.9, 2.5)]
    order = promotion_order(v, ["maximize", "minimize"])
    assert set(order[:2]) == {0, 1}  # the ends of the front first (infinite crowding distance)
    assert set(order[2:4]) == {2, 4} and order[4:] == [5, 3]


def _add(study: optuna.Study, number_values: list[tuple[float, float]], rung: int = 0) -> None:
    for i, values in enumerate(number_values):
        study.add_trial(optuna.trial.create_trial(
            params={"x": i}, distributions={"x": CategoricalDistribution(list(range(100)))},
            values=list(values), user_attrs={"rung": rung, "arch_key": f"a{i}", "arch": {},
                                             "accuracy": values[0]}))


def test_the_top_third_is_promoted_and_dominated_ones_are_not(tiny_space) -> None:
    space = load_space(_space(tiny_space, "unit", 4), catalog=model_catalog())
    rungs = rungs_of(space)
    study = optuna.create_study(directions=["maximize", "minimize"])
    # six results at rung 0: quota 2. Front: #0 (best accuracy) and #1 (cheapest); the rest dominated
    _add(study, [(0.90, 5.0), (0.80, 1.0), (0.79, 2.0), (0.70, 6.0), (0.85, 5.5), (0.60, 9.0)])
    first = next_promotion(study, rungs, 3)
    assert first is not None and first.source.number in (0, 1) and (first.rank, first.seen) == (0, 6)
    study.enqueue_trial({"x": first.source.number},
                        user_attrs={"rung": 1, "promoted_from": first.source.number})
    second = next_promotion(study, rungs, 3)
    assert second is not None and {first.source.number, second.source.number} == {0, 1}
    study.enqueue_trial({"x": second.source.number},
                        user_attrs={"rung": 1, "promoted_from": second.source.number})
    assert next_promotion(study, rungs, 3) is None  # 6 // 3 promoted; dominated #2..#5 are not
    _add(study, [(0.5, 20.0), (0.5, 21.0), (0.5, 22.0)])  # 9 seen now: quota 3
    # the second front, {#2, #4} (each dominated only by #0 or #1), comes next; #3 and the new
    # three are dominated by it
    third = next_promotion(study, rungs, 3)
    assert third is not None and third.source.number in (2, 4) and third.seen == 9


def test_rung_agreement_says_whether_tau_is_beyond_chance() -> None:
    def pair(accs: list[tuple[float, float]]) -> RungPair:
        pts = [(i, "a", x, y) for i, (x, y) in enumerate(accs)]
        return RungPair(0, pts, kendall_tau([p[2] for p in pts], [p[3] for p in pts]))

    ordered = [(i / 10, i / 10 + 0.01) for i in range(8)]
    assert pair(ordered).agreement == "tau 1.00 over 8 promoted, beyond chance"
    ys = [ordered[i][1] for i in (3, 0, 6, 1, 7, 2, 5, 4)]
    shuffled = [(x, y) for (x, _), y in zip(ordered, ys, strict=True)]
    assert "within chance (|tau| < 0.64)" in pair(shuffled).agreement
    assert pair(ordered[:4]).agreement.endswith("too few to tell from chance")
    assert pair(ordered[:1]).agreement == "1 promoted: no tau yet"
    # the terminal's summary says what a rung that ranks within chance means, and only then
    lines = rung_summary(RungData([24, 8, 3], [8, 3, 0], [pair(shuffled), pair(ordered[:3])]))
    assert lines[0] == "rungs: rung 0 trained 24, promoted 8; rung 1 trained 8, promoted 3; rung 2 trained 3, promoted 0"
    assert "rung 0 against rung 1: tau" in lines[1] and "within chance" in lines[1]
    assert "rung 0 does not rank like rung 1 beyond chance" in lines[2] and "learn_from: highest" in lines[2]
    assert "too few to tell" in lines[3] and len(lines) == 4
    assert len(rung_summary(RungData([24, 8], [8, 0], [pair(ordered)]))) == 2


def test_search_with_rungs_promotes_the_best_and_reports_the_top_rung(tiny_space, fashion_dir, fake,
                                                                       tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--space", str(_space(tiny_space, "mf", 12)), "--quiet"], trainer=fake) == 0
    out = capsys.readouterr().out
    assert "\nrungs: rung 0 trained " in out
    study = _study(tmp_path, "mf")
    recs = [r for r in records(study) if r.is_original]
    by_rung = {k: [r for r in recs if (r.rung or 0) == k] for k in range(3)}
    assert len({r.arch_key for r in by_rung[0]}) == len(by_rung[0]) >= 12
    # each promotion trained once, from a complete trial one rung below
    sources = [(r.promoted_from, r.rung) for r in recs if r.rung]
    assert len(sources) == len(set(sources))
    for r in recs:
        if r.rung:
            src = next(s for s in recs if s.number == r.promoted_from)
            assert (src.rung or 0) == r.rung - 1 and src.arch_key == r.arch_key
    # at the end, the top floor(n/3) of each rung by non-dominated sorting are all promoted
    directions = ["maximize", "minimize"]
    for k in (0, 1):
        seen = by_rung[k]
        others = [r for r in seen if not r.is_reference]  # the reference goes up by rule
        order = promotion_order([r.values for r in others], directions)
        promoted = {r.promoted_from for r in by_rung[k + 1]}
        assert {others[i].number for i in order[:len(seen) // 3]} <= promoted
    # and each promotion was in the top third of what its rung had seen when it was made
    for r in recs:
        if r.rung and not r.is_reference:
            assert r.promoted_rank < r.promoted_among // 3
    # the reference reaches every rung; rung 2 trains 2 seeds on 300 images
    assert all(any(r.is_reference for r in by_rung[k]) for k in range(3))
    assert all(len(r.accuracy_seeds) == 2 for r in by_rung[2])
    assert {(e, n) for _, e, n in fake.calls} == {(1, 100), (2, 100), (2, 300)}
    # claims compare one rung: the top one
    claims = study_claims(study)
    assert claims.rung == 2 and {c.number for c in claims.claims} == {r.number for r in by_rung[2]}
    assert "Compared at rung 2" in claims.verdict
    html = (tmp_path / "runs/mf/dashboard.html").read_text()
    assert "architectures per rung" in html and " promoted" in html and "chance" in html
    assert "rung,promoted_from" in (tmp_path / "runs/mf/trials.csv").read_text().splitlines()[0]


def test_a_crash_mid_rung_resumes_without_retraining_finished_rungs(tiny_space, fashion_dir,
                                                                    tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    space = _space(tiny_space, "crash", 9)
    first = FakeTrainer(stop_at=(2, 300))  # Ctrl-C in the first training at the top rung
    assert main(["--space", str(space), "--quiet"], trainer=first) == 130
    study = _study(tmp_path, "crash")
    done = {(r.arch_key, r.rung or 0) for r in records(study) if r.is_original}
    assert done and all(rung < 2 for _, rung in done)
    failed = [r for r in records(study) if r.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].rung == 2

    second = FakeTrainer()
    assert main(["--space", str(space), "--quiet"], trainer=second) == 0
    rung_of_budget = {(1, 100): 0, (2, 100): 1, (2, 300): 2}
    retrained = {(key, rung_of_budget[(e, n)]) for key, e, n in second.calls} & done
    assert not retrained  # nothing finished before the crash is trained again
    study = _study(tmp_path, "crash")
    assert failed[0].promoted_from in {r.promoted_from for r in records(study)
                                       if r.rung == 2 and r.state == TrialState.COMPLETE}


def test_three_workers_promote_each_trial_at_most_once(tiny_space, fashion_dir, tmp_path,
                                                       monkeypatch) -> None:
    # real (tiny) trainings in three worker processes sharing one SQLite study
    monkeypatch.chdir(tmp_path)
    space = _space(tiny_space, "async", 12)
    assert main(["--space", str(space), "--quiet", "--jobs", "3"]) == 0
    study = _study(tmp_path, "async")
    trained = [(r.promoted_from, r.rung) for r in records(study)
               if r.rung and r.state == TrialState.COMPLETE and not r.is_duplicate]
    assert trained and len(trained) == len(set(trained))
    assert len({r.worker for r in records(study) if r.worker is not None}) >= 2
    assert study_claims(study).rung is not None


@pytest.mark.parametrize("block, message", [
    ("fidelity: {rungs: [{epochs: 1}], eta: 3}", "fidelity.rungs: List should have at least 2 items"),
    ("fidelity: {rungs: [{epochs: 1}, {epochs: 2, batch: 4}]}", "fidelity.rungs[1].batch: unknown key"),
    ("fidelity: {rungs: [{epochs: 2}, {epochs: 1}]}", "fidelity.rungs[1]: each rung must cost more"),
    ("fidelity: {rungs: [{epochs: 1}, {epochs: 2}], eta: 1}", "fidelity.eta: Input should be greater than 1"),
    ("fidelity: {rungs: [{epochs: 1, train_subset: 5000}, {epochs: 2}]}",
     "fidelity.rungs[0].train_subset: at most the proxy split's 300 training images"),
    ("fidelity: {rungs: [{epochs: 1}, {epochs: 2}], learn_from: top}",
     "fidelity.learn_from: Input should be 'rung0' or 'highest'"),
])
def test_bad_fidelity_blocks_exit_2_naming_the_key(tiny_space, tmp_path, monkeypatch, capsys,
                                                   block: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    path = tiny_space("bad", extra=block + "\n")
    assert main(["--space", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("sampler", ["nsga2", "grid", "random"])
def test_learning_from_the_highest_rung_needs_a_model_based_sampler(tiny_space, tmp_path, monkeypatch,
                                                                     capsys, sampler: str) -> None:
    monkeypatch.chdir(tmp_path)
    path = tiny_space("bad", extra="fidelity: {rungs: [{epochs: 1}, {epochs: 2}], learn_from: highest}\n")
    path.write_text(path.read_text().replace("sampler: tpe", f"sampler: {sampler}"))
    assert main(["--space", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert (f"fidelity.learn_from: highest is for the samplers that fit a model to results (tpe, gp); "
            f"search.sampler is {sampler}") in err and "Traceback" not in err


def test_learning_from_the_highest_rung_refuses_a_sampler_flag_without_a_model(
        tiny_space, fashion_dir, fake, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    path = tiny_space("flag", extra="fidelity: {rungs: [{epochs: 1}, {epochs: 2}], learn_from: highest}\n")
    assert main(["--space", str(path), "--quiet", "--sampler", "nsga2"], trainer=fake) == 2
    err = capsys.readouterr().err
    assert ("fidelity.learn_from: highest is for the samplers that fit a model to results (tpe, gp); "
            "--sampler is nsga2") in err and "Traceback" not in err
    assert not fake.calls


class _Recorder(optuna.samplers.RandomSampler):
    """A random sampler that records the rung of every result it is shown (the trial being
    sampled is in the view too, running)."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.seen: list[set[int]] = []

    def sample_independent(self, study, trial, param_name, param_distribution):
        self.seen.append({t.user_attrs.get("rung") or 0 for t in study.get_trials(deepcopy=False)
                          if t.state.is_finished()})
        return super().sample_independent(study, trial, param_name, param_distribution)


def _shown(sampler: RungSampler, study: optuna.Study) -> set[int]:
    sampler.inner.seen.clear()
    study.sampler = sampler
    study.ask({"x": CategoricalDistribution(list(range(100)))})
    return sampler.inner.seen[-1]


def test_the_sampler_learns_from_rung_0_or_from_the_highest_rung_with_enough_results() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    _add(study, [(0.5 + i / 100, 1.0) for i in range(6)], rung=0)
    _add(study, [(0.6, 1.0), (0.7, 1.0)], rung=1)
    _add(study, [(0.8, 1.0)], rung=2)
    study.add_trial(optuna.trial.create_trial(  # a duplicate promotion does not count
        params={"x": 0}, distributions={"x": CategoricalDistribution(list(range(100)))},
        values=[0.8, 1.0], user_attrs={"rung": 2, "duplicate_of": 8}))
    assert learning_rung(study, enough=2) == 1 and learning_rung(study, enough=7) == 0
    assert _shown(RungSampler(_Recorder()), study) == {0}  # learn_from: rung0
    assert _shown(RungSampler(_Recorder(), highest=True, enough=2), study) == {1}
    _add(study, [(0.75, 1.0)], rung=2)
    assert learning_rung(study, enough=2) == 2
    assert _shown(RungSampler(_Recorder(), highest=True, enough=2), study) == {2}
    assert _shown(RungSampler(_Recorder(), highest=True, enough=3), study) == {0}  # rung 1 has 2


def test_without_a_fidelity_block_nothing_has_a_rung(tiny_space, fashion_dir, fake, tmp_path,
                                                     monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tiny_space("single", n_trials=3)
    assert main(["--space", str(path), "--quiet"], trainer=fake) == 0
    study = _study(tmp_path, "single")
    assert all(TrialRecord.of(t).rung is None for t in study.trials)
    assert study_claims(study).rung is None


def test_nsga2_counts_its_generations_in_the_rung_it_learns_from() -> None:
    """Promotions' results (rung 1) sit between rung-0 trials in the study; NSGA-II sees a study
    of rung 0 only, numbered from 0, and its generations advance every population_size trials
    there. (Optuna 5.1's NSGA-II indexes trials by number: a filtered list raised IndexError.)"""
    sampler = RungSampler(optuna.samplers.NSGAIISampler(population_size=4, seed=0))
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for i in range(16):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1)
        study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions=dist,
                                                  values=[0.5, 1.0], user_attrs={"rung": 1}))
    generation = [t.system_attrs.get("NSGAIISampler:generation") for t in study.trials
                  if not t.user_attrs.get("rung")]
    assert generation == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4
    assert all("NSGAIISampler:generation" not in t.system_attrs for t in study.trials
               if t.user_attrs.get("rung"))


@pytest.mark.parametrize("sampler, learn_from", [
    ("nsga2", "rung0"), ("tpe", "rung0"), ("gp", "rung0"), ("random", "rung0"), ("grid", "rung0"),
    ("tpe", "highest"), ("gp", "highest")])
def test_every_sampler_searches_with_rungs(tiny_space, fashion_dir, fake, tmp_path, monkeypatch,
                                           sampler: str, learn_from: str) -> None:
    pytest.importorskip("scipy")  # the GP sampler's optimiser
    monkeypatch.chdir(tmp_path)
    path = _space(tiny_space, sampler, 7)
    path.write_text(path.read_text().replace("sampler: tpe", f"sampler: {sampler}")
                    .replace("  eta: 3\n", f"  eta: 3\n  learn_from: {learn_from}\n"))
    assert main(["--space", str(path), "--quiet"], trainer=fake) == 0
    recs = [r for r in records(_study(tmp_path, sampler)) if r.is_original]
    assert {r.rung or 0 for r in recs} == {0, 1, 2}


def test_confirmation_reserve_is_priced_at_the_top_rung(tiny_space) -> None:
    """Many cheap rung-0 trainings must not set the price of confirming at the top rung."""
    space = load_space(_space(tiny_space, "price", 4), catalog=model_catalog())
    ratio = top_cost_ratio(space)  # rungs 1 x 100, 2 x 100, 2 x 300 images (2 seeds)
    assert ratio == {0: 6.0, 1: 3.0, 2: 1.0}
    study = optuna.create_study(directions=["maximize", "minimize"])
    start = datetime.datetime(2026, 1, 1)

    def add(rung: int, seconds: float, seeds: int) -> None:
        t = optuna.trial.create_trial(values=[0.5, 1.0], user_attrs={
            "rung": rung, "arch_key": f"a{len(study.trials)}", "accuracy": 0.5,
            "accuracy_seeds": {str(s): 0.5 for s in range(seeds)}})
        t.datetime_start, t.datetime_complete = start, start + datetime.timedelta(seconds=seconds)
        study.add_trial(t)

    for _ in range(9):
        add(0, 1.0, 1)
    assert seconds_per_training(study) == 1.0
    assert seconds_per_training(study, top_ratio=ratio) == 6.0  # scaled from rung 0
    add(1, 3.5, 1)
    assert seconds_per_training(study, top_ratio=ratio) == 10.5  # the highest rung trained, scaled
    add(2, 16.0, 2)
    assert seconds_per_training(study, top_ratio=ratio) == 8.0  # measured at the top: 16 s / 2 seeds
    assert top_cost_ratio(load_space(tiny_space("single"), catalog=model_catalog())) is None


def test_the_next_trial_is_priced_at_the_rung_it_trains_at(tiny_space) -> None:
    """The stop rule's "one more trial": a waiting promotion runs next, at its rung's cost,
    not at the median of the many cheap rung-0 trials."""
    space = load_space(_space(tiny_space, "next", 4), catalog=model_catalog())
    ratio, seeds = top_cost_ratio(space), [len(r.seeds) for r in rungs_of(space)]
    assert seeds == [1, 1, 2]
    study = optuna.create_study(directions=["maximize", "minimize"])
    start = datetime.datetime(2026, 1, 1)
    for i in range(9):
        t = optuna.trial.create_trial(values=[0.5, 1.0], user_attrs={
            "rung": 0, "arch_key": f"a{i}", "accuracy": 0.5, "accuracy_seeds": {"0": 0.5}})
        t.datetime_start, t.datetime_complete = start, start + datetime.timedelta(seconds=1.0)
        study.add_trial(t)
    assert seconds_per_trial(study) == seconds_per_trial(study, top_ratio=ratio, seeds=seeds) == 1.0
    study.enqueue_trial({}, user_attrs={"rung": 2, "promoted_from": 3})
    # one training at the top costs 6 rung-0 ones (300 x 2 against 100 x 1 images x epochs), 2 seeds
    assert seconds_per_trial(study, top_ratio=ratio, seeds=seeds) == 12.0
    assert seconds_per_trial(study) == 1.0  # without rungs: the median, as before


def test_promotions_after_n_trials_still_keep_the_time_budget(monkeypatch) -> None:
    import search.progress as progress

    class Study:  # what StopRule touches
        stopped = False

        def stop(self) -> None:
            self.stopped = True

        def get_trials(self, deepcopy: bool = True, states=None) -> list:  # the latency scale's
            return []

    monkeypatch.setattr(progress, "finished_count", lambda s: 9)  # n_trials reached
    trial = optuna.trial.create_trial(values=[0.5, 1.0], user_attrs={"rung": 1})
    budget_left = {"reason": None}
    rule = progress.StopRule(9, lambda *a, **k: None, None, space_size=100,
                             stop_reason=lambda s: budget_left["reason"], more_work=lambda s: True)
    study = Study()
    rule(study, trial)
    assert not study.stopped  # promotions to make, time left: go on
    budget_left["reason"] = "stopping the search: time budget"
    rule(study, trial)
    assert study.stopped and rule.stopped_by == "stopping the search: time budget"
