"""The verdict says how large a difference the study's confirmation could have called (issue 30),
from the paired differences its own confirmation trainings measured."""

from __future__ import annotations

import math

import optuna
import pytest

from search.export import export_document
from studies import Confirmation, TrialRecord, study_claims, write_confirmation, write_study, write_trial
from tests.helpers import small_arch, stored_space


def _study(rows) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    write_study(study, objectives=["accuracy", "latency_ratio"])
    write_study(study, space=stored_space(search={"seed": 0}, confirm={"seeds": 3, "level": 0.95}))
    for name, ref, accs, ratio in rows:
        t = study.ask()
        for k, v in (("arch", small_arch().to_dict()), ("arch_short", name), ("arch_key", name),
                     ("accuracy", accs[0]),
                     ("accuracy_seeds", {"0": accs[0]}), ("latency_ratio", ratio), ("latency_ms", ratio)):
            write_trial(t, **{k: v})
        if ref:
            write_trial(t, reference=ref)
        study.tell(t, [accs[0], ratio])
        for seed, acc in enumerate(accs[1:], start=1):
            write_confirmation(study, Confirmation(name, t.number, seed, acc, 0.0, 0.0))
    return study


def test_the_detectable_difference_is_the_pooled_paired_half_width_by_hand() -> None:
    study = _study([("none", "no attention", [0.80, 0.78, 0.82], 1.0),
                    ("a", None, [0.81, 0.80, 0.83], 1.1),    # differences +1, +2, +1 points
                    ("b", None, [0.79, 0.79, 0.83], 1.2)])   # differences -1, +1, +1 points
    sc = study_claims(study)
    # by hand: variances of the differences 3.333e-5 and 1.3333e-4 (2 degrees of freedom each),
    # pooled 8.333e-5, std 0.0091287; t(0.975, 2) = 4.302653; half-width = t * std / sqrt(3)
    std = math.sqrt((2 * (0.01 ** 2 * 2 / 3) / 2 + 2 * (0.02 ** 2 * 2 / 3) / 2) / 4)
    assert sc.detectable is not None
    assert sc.detectable.paired_std == pytest.approx(std, rel=1e-9) == pytest.approx(0.0091287, rel=1e-4)
    assert sc.detectable.difference == pytest.approx(4.302653 * std / math.sqrt(3), rel=1e-6)
    assert (sc.detectable.seeds, sc.detectable.architectures) == (3, 2)
    assert sc.verdict.startswith("At this budget no placement on the front beats the plain backbone by "
                                 "more than the 2.3 points it can detect: 95% intervals")
    assert "paired std 0.9 points over 2 architectures" in sc.verdict
    best = next(TrialRecord.of(t) for t in study.trials if t.user_attrs["arch_key"] == "a")
    doc = export_document(study, best, pick="knee", claims=sc)
    assert "2.3 points it can detect" in doc["verdict"]
    assert doc["detectable_difference"] == {"points": pytest.approx(2.268, abs=1e-3),
                                            "paired_std_points": pytest.approx(0.913, abs=1e-3),
                                            "paired_seeds": 3, "architectures": 2, "level": 0.95}


def test_a_better_verdict_says_it_too_and_a_single_seed_study_claims_nothing() -> None:
    sc = study_claims(_study([("none", "no attention", [0.80, 0.78, 0.82], 1.0),
                              ("good", None, [0.85, 0.83, 0.87], 1.1)]))
    assert sc.verdict.startswith("good beats the plain backbone by +5.0 points")
    assert "the smallest difference this confirmation could have called is 0.0 points" in sc.verdict
    single = study_claims(_study([("none", "no attention", [0.80], 1.0), ("a", None, [0.81], 1.1)]))
    assert single.detectable is None and "points it can detect" not in single.verdict


def test_a_front_of_the_reference_alone_says_what_came_closest() -> None:
    sc = study_claims(_study([("none", "no attention", [0.80, 0.78, 0.82], 1.0),
                              ("a", None, [0.79, 0.78, 0.80], 1.1),     # -1, 0, -2 points
                              ("b", None, [0.78, 0.76, 0.81], 1.2)]))   # -2, -2, -1 points
    assert [c.arch_short for c in sc.front] == ["none"]
    assert sc.verdict.startswith("No searched architecture reached the front: the plain backbone is as "
                                 "fast as any and no confirmed architecture is more accurate. The closest: "
                                 "#1 a -1.0 points [")
    assert "#2 b -1.7 points" in sc.verdict and "(3 paired seeds, 95%;" in sc.verdict
    assert "intervals of the paired difference over" not in sc.verdict  # it paired nothing on the front
