from __future__ import annotations

import optuna
import pytest

from reports.dashboard import render_dashboard
from reports.figure_data import front_data, hypervolume_data, stage_data, timeline_data
from studies import Confirmation, hypervolume_2d, write_confirmation, write_study, write_trial
from tests.helpers import stored_space


def _study() -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"], study_name="dash")
    write_study(study, objectives=["accuracy", "latency_ms"])
    arch = {"stages": [{"attention": "se"}, {"attention": "none"}, {"attention": "eca"}]}
    rows = [  # (accuracy, latency, state, extra attrs)
        (0.80, 1.0, "complete", {"reference": "no attention"}),
        (0.90, 2.0, "complete", {}),
        (0.85, 3.0, "complete", {}),
        (None, 9.0, "pruned", {"infeasible": True}),
        (None, None, "fail", {}),
    ]
    for acc, lat, state, extra in rows:
        t = study.ask()
        write_trial(t, arch=arch)
        write_trial(t, arch_short="se(r=16)|none|eca(k=3)")
        write_trial(t, arch_key=f"arch-{t.number}")
        for k, v in extra.items():
            write_trial(t, **{k: v})
        if lat is not None:
            write_trial(t, latency_ms=lat)
        if acc is not None:
            write_trial(t, accuracy=acc)
        if state == "complete":
            study.tell(t, [acc, lat])
        else:
            study.tell(t, state=getattr(optuna.trial.TrialState, state.upper()))
    return study


def test_front_data_kinds_and_front() -> None:
    data = front_data(_study())
    assert [p.kind for p in data.points] == ["reference", "search", "search", "infeasible"]
    assert [p.number for p in data.front] == [0, 1]
    assert data.counts == {"complete": 3, "infeasible": 1, "duplicate": 0, "fail": 1, "running": 0}
    assert "se(r=16)" in data.points[1].hover and "latency: 2.000 ms measured" in data.points[1].hover


def test_stage_data_groups_accuracy_by_type() -> None:
    data = stage_data(_study())
    assert data.stages == ["stage1", "stage2", "stage3"]
    assert sorted(data.accuracy[("stage1", "se")]) == [0.80, 0.85, 0.90]


def test_hypervolume_uses_a_fixed_stated_reference() -> None:
    data = hypervolume_data(_study())
    assert data.reference == (0.0, 3.0) and data.cost == "latency_ms"
    assert data.trials == [0, 1, 2]
    # after trial 1: error/latency (0.2, 1.0), (0.1, 2.0) against (1.0, 3.0)
    assert abs(data.hypervolume[1] - ((1 - 0.2) * (3 - 1) + (1 - 0.1 - (1 - 0.2)) * (3 - 2))) < 1e-9
    assert data.hypervolume == sorted(data.hypervolume)  # never decreases
    assert hypervolume_2d([(0.5, 0.5)], (1.0, 1.0)) == 0.25


def test_timeline_states() -> None:
    assert [r.state for r in timeline_data(_study())] == ["complete", "complete", "complete",
                                                          "infeasible", "fail"]


def test_render_embeds_plotly_and_handles_empty_study() -> None:
    html = render_dashboard(_study())
    for div in ("pareto-front", "hypervolume", "stages", "costs", "timeline"):
        assert f'id="{div}"' in html
    assert "front-table" in html and "sortTable" in html
    empty = optuna.create_study(directions=["maximize", "minimize"], study_name="empty")
    assert "No complete trial yet" in render_dashboard(empty)


def _confirmed_study() -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"], study_name="conf")
    write_study(study, objectives=["accuracy", "latency_ratio"])
    write_study(study, data_sizes=[6000, 6000])
    write_study(study, space=stored_space(
        backbone={"name": "resnet_cifar", "depth": 20, "width": 16},
        dataset={"name": "fashion-mnist", "root": None, "train_subset": 12000, "val_fraction": 0.5},
        budget={"epochs": 2.0, "batch_size": 128, "lr": 0.1, "augment": True},
        latency={"device": "cpu", "batch_size": 1, "threads": 1, "backend": "torch"},
        search={"seed": 0, "seeds": 1}, confirm={"seeds": 3, "level": 0.95}))
    _add_confirmed(study, [("none|none|none", "no attention", [0.80, 0.78, 0.82], 1.0),
                           ("se(r=4)|none|none", None, [0.83, 0.81, 0.85], 1.1)], scale_ms=2.0)
    return study


def _add_confirmed(study: optuna.Study, rows: list, scale_ms: float) -> None:
    """One trial per ``(arch_short, reference or None, [acc seed 0, 1, 2], latency ratio)``,
    seeds 1 and 2 as confirmations; the study's latency scale is ``scale_ms``."""
    arch = {"stages": [{"attention": "se"}, {"attention": "none"}, {"attention": "none"}]}
    for name, ref, accs, ratio in rows:
        t = study.ask()
        for k, v in (("arch", arch), ("arch_short", name), ("arch_key", name), ("accuracy", accs[0]),
                     ("accuracy_seeds", {"0": accs[0]}), ("latency_ratio", ratio),
                     ("latency_ms", 3.0 * ratio), ("latency", {"baseline_median_ms": scale_ms})):
            write_trial(t, **{k: v})
        if ref:
            write_trial(t, reference=ref)
        study.tell(t, [accs[0], ratio])
        for seed in (1, 2):
            write_confirmation(study, Confirmation(name, t.number, seed, accs[seed], 0.0, 0.0))


def test_dashboard_states_the_verdict_with_intervals_and_a_readable_header() -> None:
    study = _confirmed_study()
    data = front_data(study)
    se = next(p for p in data.points if p.arch.startswith("se"))
    assert se.seeds == 3 and se.interval is not None and se.accuracy == pytest.approx(0.83)
    assert se.latency_ms == pytest.approx(2.2)  # ratio x the study's scale
    page = render_dashboard(study)
    assert "se(r=4)|none|none beats the plain backbone by +3.0 points [+3.0, +3.0]" in page
    assert "Fashion-MNIST, 6,000 train / 6,000 validation images" in page
    assert "2 epochs at batch 128" in page and "latency on CPU, batch 1, 1 thread" in page
    assert "front and reference confirmed with 3 paired seeds" in page
    assert '"root": null' not in page  # no raw JSON dicts in the header
    assert '"error_y"' in page and '"arrayminus"' in page  # error bars on confirmed points
    assert "no attention, 95% interval (3 seeds)" in page  # the reference's band
    for column in ("interval", "seeds", "vs no attention"):
        assert f">{column} ⇅</th>" in page
    assert "better than none (vs none +3.0 [+3.0, +3.0])" in page


def test_stage_latencies_use_the_study_scale_not_raw_ms() -> None:
    study = _confirmed_study()
    data = stage_data(study)
    # both trials recorded latency_ms = 2.0 x ratio with a 2.0 ms baseline: the stage figure shows
    # ratio x the study's scale, the same number as the front figure and the CLI
    assert sorted(data.latency[("stage1", "se")]) == pytest.approx([2.0, 2.2])  # raw: 3.0, 3.3 (drifted)


def test_header_describes_the_stored_space_typed_and_refuses_to_guess() -> None:
    from reports.describe import describe_data
    from spaces import DatasetConfig, SpaceError

    fm = DatasetConfig(name="fashion-mnist", train_subset=12000, val_fraction=0.5)
    assert describe_data(fm, (6000, 6000)) == "Fashion-MNIST, 6,000 train / 6,000 validation images"
    # a study stopped before it recorded its split sizes: the name, no sizes guessed from defaults
    assert describe_data(DatasetConfig(name="cifar10"), None) == "CIFAR-10"

    def header(**attrs) -> str:
        study = optuna.create_study(directions=["maximize", "minimize"])
        write_study(study, **attrs)
        return render_dashboard(study)

    # every setting read back through the schema (its defaults, once); a key this version no
    # longer has is ignored, a value it refuses stops the page with one message (SpaceError)
    stored = stored_space(budget={"epochs": 3})
    text = header(space={**stored, "budget": {**stored["budget"], "old_key": 1}}, data_sizes=(90, 10),
                  device="cpu", objectives=("accuracy", "latency_ms"))
    assert "3 epochs at batch 128, lr 0.1, crop + flip" in text and "90 train / 10 validation" in text
    assert "latency on CPU, batch 1, 1 thread" in text and "front and reference confirmed with 3" in text
    with pytest.raises(SpaceError, match="does not validate with this version.*budget.epochs"):
        header(space={**stored_space(), "budget": {"epochs": -1}})
    assert "settings: not recorded" in header(device="cpu")


def test_stage_accuracies_are_the_means_the_scatter_shows() -> None:
    from studies import study_claims

    study = _confirmed_study()
    claims = study_claims(study)
    data = stage_data(study)
    confirmed = {c.number: c.mean for c in claims.claims if c.seeds > 1}
    assert confirmed and any(c.mean != c.accuracies[min(c.accuracies)] for c in claims.claims if c.seeds > 1)
    points = {round(p.accuracy, 9) for p in front_data(study, claims=claims).points}
    shown = {round(a, 9) for values in data.accuracy.values() for a in values}
    assert shown <= points  # no seed-0 figure beside a confirmed mean


def test_a_one_point_front_each_reference_and_a_wide_band_are_legible() -> None:
    # the plain backbone alone on the front, two references, seeds far apart (a band wider
    # than the points): issue 31's dashboard drew no front, one colour and a band over everything
    from reports.figures import front_figure

    study = optuna.create_study(directions=["maximize", "minimize"], study_name="legible")
    write_study(study, objectives=["accuracy", "latency_ratio"])
    write_study(study, space=stored_space(search={"seed": 0, "seeds": 1}, confirm={"seeds": 3, "level": 0.95}))
    _add_confirmed(study, [("none|none|none", "no attention", [0.805, 0.59, 0.665], 1.0),
                           ("se|se|se", "SE everywhere", [0.60, 0.58, 0.62], 1.3),
                           ("eca|none|none", None, [0.55, 0.50, 0.52], 1.1)], scale_ms=3.0)
    data = front_data(study)
    assert len(data.front) == 1
    fig = front_figure(data)
    by_name = {tr.name: tr for tr in fig.data}
    front = next(tr for n, tr in by_name.items() if n.startswith("Pareto front, 1 point"))
    assert "markers" in front.mode and len(front.x) == 1  # a one-point front is drawn
    refs = [tr for n, tr in by_name.items() if n.startswith("reference: ")]
    assert sorted(tr.name for tr in refs) == ["reference: SE everywhere", "reference: no attention"]
    assert len({tr.marker.color for tr in refs}) == 2 and len({tr.marker.symbol for tr in refs}) == 2
    band = next(tr for n, tr in by_name.items() if "interval (3 seeds)" in n)
    lo, hi = min(band.y), max(band.y)
    plain = data.claims.reference
    assert (lo, hi) == pytest.approx(plain.interval)  # the band is the interval, no wider
    y0, y1 = fig.layout.yaxis.range
    assert y0 < 0.50 and y1 < hi and y1 > 0.69  # the axis spans the points, not the band
