"""The trial record: the only spelling of each key, read back typed, with its predicates."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from studies import (
    REFERENCE_LABEL,
    Confirmation,
    StudyRecord,
    TrialRecord,
    confirmations,
    records,
    trial_attrs,
    write_confirmation,
    write_study,
    write_trial,
)
from studies.record import ATTRS, COPIED_ATTRS


def _study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(directions=["maximize", "minimize"])


def test_a_misspelt_key_fails_at_once() -> None:
    study = _study()
    t = study.ask()
    with pytest.raises(TypeError, match="not trial record attributes: acuracy; allowed: arch, "):
        write_trial(t, acuracy=0.9)
    with pytest.raises(TypeError, match="not trial record attributes: number"):
        trial_attrs(number=3)  # Optuna's own fields are not attributes
    with pytest.raises(TypeError, match="not study record attributes: objective;"):
        write_study(study, objective=["accuracy"])
    assert study.trials[0].user_attrs == {} and study.user_attrs == {}  # nothing half-written


def test_written_fields_read_back_typed() -> None:
    study = _study()
    t = study.ask()
    write_trial(t, arch_short="se|none", arch_key="k", accuracy=0.8, accuracy_seeds={"0": 0.79, "1": 0.81},
                latency_ms=2.0, latency_ratio=1.05, reference=REFERENCE_LABEL)
    t.set_user_attr("from_a_newer_version", 1)  # a key this version does not know is ignored
    study.tell(t, [0.8, 1.05])
    r = TrialRecord.of(study.trials[0])
    assert (r.number, r.state, r.values) == (0, TrialState.COMPLETE, (0.8, 1.05))
    assert (r.arch_short, r.accuracy, r.latency_ratio, r.seeds) == ("se|none", 0.8, 1.05, 2)
    assert r.seed_accuracies(default_seed=7) == {0: 0.79, 1: 0.81}
    assert r.is_original and r.is_reference and not r.is_duplicate and not r.is_infeasible
    assert r.duration_s is not None and r.is_trained
    # every attribute name is accepted by the writer and read back into its own field
    every = study.ask()
    write_trial(every, **{k: f"value of {k}" for k in ATTRS})
    back = TrialRecord.of(study.trials[every.number])
    assert {k: getattr(back, k) for k in ATTRS} == {k: f"value of {k}" for k in ATTRS}
    assert "number" not in ATTRS and "duration_s" not in ATTRS  # Optuna's own, not attributes


def test_predicates_tell_the_trials_apart() -> None:
    study = _study()
    kinds = {}
    for name, attrs, state in (
            ("original", {"arch_key": "a", "accuracy": 0.8}, TrialState.COMPLETE),
            ("duplicate", {"arch_key": "a", "accuracy": 0.8, "duplicate_of": 0}, TrialState.COMPLETE),
            ("surplus", {"surplus": True}, TrialState.PRUNED),
            ("infeasible", {"arch_key": "b", "infeasible": True, "latency_ms": 9.0}, TrialState.PRUNED),
            ("labelled", {"arch_key": "c", "accuracy": 0.7, "reference": "se everywhere"},
             TrialState.COMPLETE)):
        t = study.ask()
        write_trial(t, **attrs)
        study.tell(t, [0.8, 1.0] if state == TrialState.COMPLETE else None, state=state)
        kinds[name] = t.number
    by = {r.number: r for r in records(study)}
    assert [n for n, i in kinds.items() if by[i].is_original] == ["original", "labelled"]
    assert [n for n, i in kinds.items() if by[i].is_finished] == ["original", "infeasible", "labelled"]
    assert [n for n, i in kinds.items() if by[i].is_reference] == []  # a labelled baseline is not THE reference
    assert by[kinds["duplicate"]].is_duplicate and by[kinds["infeasible"]].is_infeasible
    assert len(records(study, states=(TrialState.PRUNED,))) == 2


def test_a_duplicate_copies_the_results_it_has() -> None:
    study = _study()
    t = study.ask()
    write_trial(t, arch_key="a", arch_short="x", accuracy=0.8, latency_ms=2.0, params=10,
                constraint_violations={"latency_ms_max": -1.0}, worker=123)
    study.tell(t, [0.8, 2.0])
    copied = TrialRecord.of(study.trials[0]).copied_attrs()
    assert copied == {"accuracy": 0.8, "latency_ms": 2.0, "params": 10,
                      "constraint_violations": {"latency_ms_max": -1.0}}
    assert set(copied) <= set(COPIED_ATTRS) and "arch_key" not in COPIED_ATTRS


def test_study_record_and_confirmations() -> None:
    study = _study()
    assert StudyRecord.of(study) == StudyRecord()  # a study before any attribute: defaults
    write_study(study, objectives=("accuracy", "latency_ratio"), data_sizes=(6000, 6000))
    info = StudyRecord.of(study)
    assert info.objectives == ("accuracy", "latency_ratio") and info.data_sizes == (6000, 6000)
    a, b = Confirmation("k", 0, 1, 0.81, 0.5, 12.0), Confirmation("k", 0, 2, 0.83, 0.5, 12.0)
    write_confirmation(study, a)
    write_confirmation(study, b)
    write_confirmation(study, a)  # the same training again overwrites, never adds
    assert confirmations(study) == {"k": {1: 0.81, 2: 0.83}}
    assert a.key != b.key and a.key.startswith("confirm:") and len(a.key) < 40


def test_a_trials_architecture_reads_back_typed_stage_by_stage() -> None:
    from studies import StageSummary

    t = optuna.trial.create_trial(values=[0.5], user_attrs={"arch": {
        "num_classes": 10, "stages": [{"attention": "se", "hparams": {"reduction": 4}},
                                      {"attention": "none", "conv": "odconv"}]}})
    r = TrialRecord.of(t)
    assert r.stages == (StageSummary("se"), StageSummary("none", "odconv"))
    assert [s.label() for s in r.stages] == ["se", "none+odconv"] and r.num_classes == 10
    empty = TrialRecord.of(optuna.trial.create_trial(values=[0.5]))
    assert empty.stages == () and empty.num_classes is None
