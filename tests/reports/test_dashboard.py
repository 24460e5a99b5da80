from __future__ import annotations

import optuna

from reports.dashboard import front_data, render_dashboard, stage_data


def _study() -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"], study_name="dash")
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
        t.set_user_attr("arch", arch)
        t.set_user_attr("arch_short", "se(r=16)|none|eca(k=3)")
        for k, v in extra.items():
            t.set_user_attr(k, v)
        if lat is not None:
            t.set_user_attr("latency_ms", lat)
        if acc is not None:
            t.set_user_attr("accuracy", acc)
        if state == "complete":
            study.tell(t, [acc, lat])
        else:
            study.tell(t, state=getattr(optuna.trial.TrialState, state.upper()))
    return study


def test_front_data_kinds_and_front() -> None:
    data = front_data(_study())
    assert [p.kind for p in data.points] == ["reference", "search", "search", "infeasible"]
    assert [p.number for p in data.front] == [0, 1]
    assert data.counts["complete"] == 3 and data.counts["infeasible"] == 1 and data.counts["fail"] == 1
    assert "se(r=16)" in data.points[1].hover and "latency_ms: 2.000 ms" in data.points[1].hover


def test_stage_data_groups_accuracy_by_type() -> None:
    data = stage_data(_study())
    assert data.stages == ["stage1", "stage2", "stage3"]
    assert sorted(data.accuracy[("stage1", "se")]) == [0.80, 0.85, 0.90]


def test_render_embeds_plotly_and_handles_empty_study() -> None:
    html = render_dashboard(_study())
    assert 'id="pareto-front"' in html and 'id="stage-accuracy"' in html
    empty = optuna.create_study(directions=["maximize", "minimize"], study_name="empty")
    assert "No complete trial yet" in render_dashboard(empty)
