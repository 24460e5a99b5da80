"""One latency figure per architecture in every output (issue 31, item 1).

A recorded study whose raw timings contradict its ratios (a busy machine: each candidate was
timed at a different moment, beside its own timing of the plain backbone). Every place a
person reads a latency must show ratio x the study's one scale, so the ms order is the ratio
order everywhere, and a figure does not move when trials are added.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import optuna
import pytest
import yaml

from reports.figure_data import front_data
from search.export import export_best, export_document
from search.outputs import front_table, trial_line, write_trials_csv
from studies import TrialRecord, latency_scale_ms, study_claims
from tests.helpers import recorded_study

# (stages, accuracy, raw ms timed then, ratio, the plain backbone's ms timed beside it)
ROWS = [
    (("none", "none", "none"), 0.780, 5.57, 0.998, 5.58),
    (("se", "se", "se"), 0.800, 6.50, 1.150, 6.31),
    (("eca", "none", "none"), 0.790, 4.71, 1.050, 4.21),  # raw: faster than the plain one
    (("none", "none", "se"), 0.785, 7.90, 1.020, 7.70),  # raw: slower than SE everywhere
]
SCALE = 5.58  # the plain backbone as timed beside the first trial to finish


def _study(rows=ROWS) -> optuna.Study:
    return recorded_study(rows)


def _ms(text: str) -> float:
    return float(re.search(r"\(([\d.]+) ms\)", text).group(1))


def _in_ratio_order(shown: dict[int, float]) -> None:
    ratios = {i: ROWS[i][3] for i in shown}
    assert sorted(shown, key=shown.get) == sorted(ratios, key=ratios.get)
    for i, ms in shown.items():  # and the same figure: ratio x the one scale
        assert ms == pytest.approx(ratios[i] * SCALE, abs=0.006)


def test_the_scale_is_the_first_finished_trials_and_holds_when_trials_are_added() -> None:
    study = _study()
    assert latency_scale_ms(study) == SCALE
    before = {c.number: c.latency_ms for c in study_claims(study).claims}
    more = _study([*ROWS, (("eca", "eca", "eca"), 0.79, 9.0, 1.1, 9.9)])
    after = {c.number: c.latency_ms for c in study_claims(more).claims}
    assert all(after[n] == before[n] for n in before)


def test_every_output_shows_one_figure_in_the_order_of_the_ratios(tmp_path: Path) -> None:
    study = _study()
    trials = study.get_trials()
    scale = latency_scale_ms(study)
    _in_ratio_order({t.number: _ms(trial_line(t, scale)) for t in trials})  # the per-trial line

    write_trials_csv(study, tmp_path / "trials.csv")
    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    _in_ratio_order({int(r["number"]): float(r["latency_ms"]) for r in rows})
    assert [float(r["latency_ms_measured"]) for r in rows] == [r[2] for r in ROWS]  # the raw timing

    exported = {}
    for t in trials:
        doc = export_document(study, TrialRecord.of(t), pick=f"trial={t.number}")
        exported[t.number] = doc["metrics"]["latency_ms"]
        assert doc["metrics"]["latency_ms_measured"] == ROWS[t.number][2]
    _in_ratio_order(exported)

    data = front_data(study)
    _in_ratio_order({p.number: p.latency_ms for p in data.points})  # scatter and table
    _in_ratio_order({p.number: p.costs["latency_ms"] for p in data.points})
    hover = {p.number: float(re.search(r"latency: ([\d.]+) ms", p.hover).group(1)) for p in data.points}
    _in_ratio_order(hover)

    table = front_table(study_claims(study), knee_number=None)
    lines = {int(m.group(1)): _ms(nxt) for m, nxt in zip(
        (re.match(r"\s+#(\d+)", ln) for ln in table.splitlines()), table.splitlines()[1:]) if m}
    _in_ratio_order(lines)

    best = export_best(study, tmp_path / "best.yaml", pick="knee")
    doc = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert doc["metrics"]["latency_ms"] == pytest.approx(ROWS[best.number][3] * SCALE)


def test_trials_csv_says_which_accuracy_is_which(tmp_path: Path) -> None:
    write_trials_csv(_study(), tmp_path / "trials.csv")
    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert {"search_accuracy", "mean_accuracy", "confirmed", "on_front"} <= set(rows[0])
    assert "accuracy" not in rows[0]
    assert {r["confirmed"] for r in rows} == {"no"}  # confirm: false
    assert [r["on_front"] for r in rows] == ["yes"] * 4
