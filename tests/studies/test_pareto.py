"""The Pareto front, the knee and the --pick rules (studies.pareto, studies.claims)."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from studies import PickError, knee, non_dominated, pick_claim, records, write_study, write_trial


def fake_study(points: list[tuple[float, float]]) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    write_study(study, objectives=["accuracy", "latency_ms"])
    for acc, lat in points:
        t = study.ask()
        write_trial(t, accuracy=acc, latency_ms=lat, arch_short=f"arch{t.number}", arch_key=f"key{t.number}")
        study.tell(t, [acc, lat])
    return study


def test_front_and_knee() -> None:
    study = fake_study([(0.80, 1.0), (0.90, 2.0), (0.91, 4.0), (0.85, 3.0), (0.70, 0.9)])
    front = non_dominated(records(study, states=(TrialState.COMPLETE,)), ["maximize", "minimize"])
    assert [t.number for t in front] == [4, 0, 1, 2]  # (0.85, 3.0) is dominated
    assert knee(front, ["maximize", "minimize"]).number == 1


def test_picks() -> None:
    study = fake_study([(0.80, 1.0), (0.90, 2.0), (0.91, 4.0)])
    assert pick_claim(study, "max-accuracy").number == 2
    assert pick_claim(study, "fastest").number == 0
    assert pick_claim(study, "latency<=2.5").number == 1
    assert pick_claim(study, "trial=2").number == 2
    with pytest.raises(PickError, match=r"no Pareto architecture has latency_ms <= 0.01; the front spans 1.000 to 4.000 ms"):
        pick_claim(study, "latency<=0.01")
    with pytest.raises(PickError, match="unknown pick 'best'; allowed: knee"):
        pick_claim(study, "best")
