"""The result in words a person acts on, and the guard against a run that cannot rank (issue 31)."""

from __future__ import annotations

from pathlib import Path

import yaml

from reports.dashboard import render_dashboard
from search.export import export_best
from search.outputs import front_table
from studies import study_claims
from studies.advice import action, placement_words, run_warning
from tests.helpers import recorded_study


def test_placements_in_words() -> None:
    names = ("stage1", "stage2", "stage3")
    assert placement_words("none|none|se(r=4)[last]", names) == "SE (r=4) in the last block of stage3"
    assert placement_words("eca(k=3)|none|gc(ratio=0.25,mul)@post", names) == (
        "ECA (k=3) in every block of stage1; GC (ratio=0.25,mul) after the residual add in every block of stage3")
    assert placement_words("none|none|none", names) == "no attention"
    assert placement_words("none|se(r=16)+odconv(n=4)", ()) == (
        "SE (r=16) in every block of stage 2; odconv (n=4) convolutions in stage 2")


def test_a_reference_at_chance_or_with_wild_seeds_is_warned_about() -> None:
    at_chance = run_warning({0: 0.1000}, 10)  # MobileNetV2 at 0.1000 on 10 classes
    assert "0.1000, within 5 points of chance (0.1000 for 10 classes)" in at_chance
    assert "budget.epochs" in at_chance and "dataset.train_subset" in at_chance
    wild = run_warning({0: 0.805, 1: 0.59, 2: 0.665}, 4)  # the 4-class folder
    assert "0.805 / 0.590 / 0.665" in wild and "chance (0.2500 for 4 classes)" in wild
    assert run_warning({0: 0.771, 1: 0.782, 2: 0.776}, 10) is None  # a proxy that learnt
    assert run_warning({0: 0.40}, 10) is None  # one seed: only the chance test applies


def test_the_action_says_what_to_do() -> None:
    better = ("none|none|se(r=4)[last]", 0.012, (0.004, 0.020), 1.08)
    assert action(confirmed=True, has_reference=True, best=better, detectable=0.009, warning=None,
                  stage_names=("s1", "s2", "stage 3")) == (
        "Put SE (r=4) in the last block of stage 3: +1.2 points [+0.4, +2.0] at 1.08x latency.")
    assert action(confirmed=True, has_reference=True, best=None, detectable=0.009, warning=None) == (
        "Use no attention: no placement on the front beat the plain backbone by more than the 0.9 "
        "points this budget can detect.")
    assert action(confirmed=False, has_reference=True, best=None, detectable=None,
                  warning=None).startswith("No recommendation yet")
    assert action(confirmed=True, has_reference=True, best=better, detectable=0.009,
                  warning="Warning: ...").startswith("No recommendation: this run's proxy did not learn")


def test_a_run_at_chance_says_so_in_the_terminal_best_yaml_and_the_dashboard(tmp_path: Path) -> None:
    study = recorded_study([(("none", "none", "none"), 0.1000, 2.0, 1.0, 2.0),
                            (("se", "se", "se"), 0.1010, 2.2, 1.1, 2.0)])
    claims = study_claims(study)
    assert claims.warning is not None and claims.num_classes == 10
    assert claims.action.startswith("No recommendation")
    table = front_table(claims, knee_number=None)
    assert claims.warning in table and table.endswith(claims.action)
    export_best(study, tmp_path / "best.yaml", pick="knee")
    doc = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert doc["warning"] == claims.warning and doc["action"] == claims.action
    page = render_dashboard(study)
    first = page.index("<h1>")
    assert page.index("No recommendation", first) < page.index("class='verdict'")  # the first line
    assert "within 5 points of chance" in page and "10 classes: chance accuracy 0.1000" in page
