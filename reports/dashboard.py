"""A self-contained Plotly dashboard of a study.

    python -m reports.dashboard --study NAME [--storage URL] [--out FILE]

Computing and drawing are separate: ``front_data`` and ``stage_data`` return
plain values that the tests check without a browser; ``render_dashboard``
draws them into one HTML file with plotly.js embedded (opens offline).
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path
from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState


class Point(NamedTuple):
    number: int
    accuracy: float
    latency_ms: float
    arch: str
    kind: str  # "reference" | "search" | "infeasible"
    on_front: bool
    hover: str


class FrontData(NamedTuple):
    points: list[Point]
    front: list[Point]  # sorted by latency: the step line
    counts: dict[str, int]


class StageData(NamedTuple):
    stages: list[str]
    # (stage, attention type) -> validation accuracies of complete trials
    accuracy: dict[tuple[str, str], list[float]]


def _hover(t: FrozenTrial) -> str:
    ua = t.user_attrs
    stages = "<br>".join(
        f"  {i + 1}: {part}" for i, part in enumerate(ua.get("arch_short", "?").split("|")))
    lines = [f"<b>trial {t.number}</b>" + (f" ({ua['reference']})" if "reference" in ua else ""),
             stages]
    for k, fmt in (("accuracy", "{:.4f}"), ("latency_ms", "{:.3f} ms"), ("params", "{:,}"),
                   ("flops", "{:,}"), ("train_seconds", "{:.1f} s")):
        if k in ua:
            lines.append(f"{k}: {fmt.format(ua[k])}")
    return "<br>".join(lines)


def _is_front(study: optuna.Study) -> set[int]:
    try:
        return {t.number for t in study.best_trials}
    except ValueError:
        return set()


def front_data(study: optuna.Study) -> FrontData:
    """Accuracy and latency of every measured trial, and the Pareto front."""
    trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): 0 for s in TrialState}
    counts["infeasible"] = counts["duplicate"] = 0
    for t in trials:
        counts[t.state.name.lower()] += 1
        counts["infeasible"] += bool(t.user_attrs.get("infeasible"))
        counts["duplicate"] += t.user_attrs.get("duplicate_of") is not None
    best = _is_front(study)
    points = []
    for t in trials:
        ua = t.user_attrs
        if "latency_ms" not in ua or t.user_attrs.get("duplicate_of") is not None:
            continue
        if t.state == TrialState.COMPLETE:
            kind = "reference" if "reference" in ua else "search"
        elif ua.get("infeasible"):
            kind = "infeasible"
        else:
            continue
        points.append(Point(t.number, float(ua.get("accuracy", float("nan"))),
                            float(ua["latency_ms"]), ua.get("arch_short", "?"), kind,
                            t.number in best, _hover(t)))
    front = sorted((p for p in points if p.on_front), key=lambda p: p.latency_ms)
    return FrontData(points, front, counts)


def stage_data(study: optuna.Study) -> StageData:
    """Per stage, the validation accuracies of complete trials by attention type."""
    acc: dict[tuple[str, str], list[float]] = {}
    stages: list[str] = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get("duplicate_of") is not None or "accuracy" not in t.user_attrs:
            continue
        for i, stage in enumerate(t.user_attrs["arch"]["stages"]):
            name = f"stage{i + 1}"
            if name not in stages:
                stages.append(name)
            acc.setdefault((name, stage["attention"]), []).append(t.user_attrs["accuracy"])
    return StageData(stages, acc)


class FidelityData(NamedTuple):
    kendall_tau: float
    spearman_rho: float
    epochs: float
    points: list[tuple[int, str, float, float]]  # trial, arch, proxy accuracy, long accuracy
    seed_std: float
    seed_accuracies: list[float]


def fidelity_data(study: optuna.Study) -> FidelityData | None:
    """What ``search.fidelity`` stored in the study, or None if it has not run."""
    f = study.user_attrs.get("fidelity")
    if not f:
        return None
    return FidelityData(f["kendall_tau"], f["spearman_rho"], f["epochs"],
                        [(r["trial"], r["arch"], r["proxy_accuracy"], r["long_accuracy"])
                         for r in f["rows"]],
                        f["seed_spread"]["std"], f["seed_spread"]["accuracies"])


def fidelity_figure(data: FidelityData) -> go.Figure:
    fig = go.Figure(go.Scatter(
        x=[p[2] for p in data.points], y=[p[3] for p in data.points], mode="markers",
        hovertext=[f"trial {p[0]}<br>{p[1]}" for p in data.points], hoverinfo="text",
        marker=dict(size=10)))
    fig.update_layout(
        title=(f"Proxy vs {data.epochs:g}-epoch accuracy: Kendall tau {data.kendall_tau:.2f}, "
               f"Spearman rho {data.spearman_rho:.2f}; proxy seed std {data.seed_std:.4f}"),
        xaxis_title="proxy validation accuracy", yaxis_title="long-training validation accuracy",
        template="plotly_white", height=420)
    return fig


_STYLE = {"search": ("#1f77b4", "circle"), "reference": ("#d62728", "diamond"),
          "infeasible": ("#7f7f7f", "x")}


def front_figure(data: FrontData) -> go.Figure:
    fig = go.Figure()
    for kind, (color, symbol) in _STYLE.items():
        pts = [p for p in data.points if p.kind == kind]
        if not pts:
            continue
        if kind == "infeasible":  # never trained: plotted on the latency axis only
            y = [0.0] * len(pts)
        else:
            y = [p.accuracy for p in pts]
        fig.add_trace(go.Scatter(
            x=[p.latency_ms for p in pts], y=y, mode="markers", name=kind,
            marker=dict(color=color, symbol=symbol, size=[13 if p.on_front else 8 for p in pts],
                        line=dict(width=[2 if p.on_front else 0 for p in pts], color="black")),
            hovertext=[p.hover for p in pts], hoverinfo="text",
        ))
    if data.front:
        xs, ys = [], []
        for p in data.front:
            xs.append(p.latency_ms)
            ys.append(p.accuracy)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(shape="hv", color="black"),
                                 name="Pareto front", hoverinfo="skip"))
    fig.update_layout(title="Validation accuracy against latency (Pareto front outlined)",
                      xaxis_title="latency (ms)", yaxis_title="validation accuracy",
                      template="plotly_white", height=520)
    return fig


def stage_figure(data: StageData) -> go.Figure:
    fig = go.Figure()
    types = sorted({a for _, a in data.accuracy}, key=lambda a: (a != "none", a))
    for a in types:
        xs, ys = [], []
        for s in data.stages:
            vals = data.accuracy.get((s, a), [])
            xs += [s] * len(vals)
            ys += vals
        fig.add_trace(go.Box(x=xs, y=ys, name=a, boxpoints="all", jitter=0.4, pointpos=0))
    fig.update_layout(boxmode="group", title="Validation accuracy by attention type, per stage",
                      yaxis_title="validation accuracy", template="plotly_white", height=420)
    return fig


def _table(data: FrontData) -> str:
    rows = "".join(
        f"<tr><td>{p.number}</td><td><code>{html.escape(p.arch)}</code></td>"
        f"<td>{p.accuracy:.4f}</td><td>{p.latency_ms:.3f}</td></tr>" for p in data.front)
    return ("<table><thead><tr><th>trial</th><th>architecture</th><th>accuracy</th>"
            f"<th>latency ms</th></tr></thead><tbody>{rows}</tbody></table>")


def render_dashboard(study: optuna.Study) -> str:
    """The dashboard as one HTML document with plotly.js embedded."""
    fdata = front_data(study)
    counts = ", ".join(f"{k}: {v}" for k, v in fdata.counts.items() if v)
    space = study.user_attrs.get("space", {})
    header = (f"<h1>attnas — {html.escape(study.study_name)}</h1>"
              f"<p>space: <code>{html.escape(str(study.user_attrs.get('space_path', '?')))}</code>"
              f" · backbone: <code>{html.escape(str(space.get('backbone', '?')))}</code>"
              f" · dataset: <code>{html.escape(str(space.get('dataset', '?')))}</code>"
              f" · budget: <code>{html.escape(str(space.get('budget', '?')))}</code></p>"
              f"<p>trials — {counts or 'none yet'}</p>")
    if not any(p.kind != "infeasible" for p in fdata.points):
        body = "<p><b>No complete trial yet:</b> the figures appear once a trial finishes.</p>"
    else:
        body = (front_figure(fdata).to_html(full_html=False, include_plotlyjs=True,
                                            div_id="pareto-front")
                + stage_figure(stage_data(study)).to_html(full_html=False, include_plotlyjs=False,
                                                          div_id="stage-accuracy")
                + "<h2>Pareto architectures</h2>" + _table(fdata))
        fid = fidelity_data(study)
        body += ("<h2>Does the proxy rank like longer training?</h2>"
                 + (fidelity_figure(fid).to_html(full_html=False, include_plotlyjs=False,
                                                 div_id="fidelity") if fid else
                    "<p>Not measured yet: run <code>python -m search.fidelity --study "
                    f"{html.escape(study.study_name)}</code>.</p>"))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>attnas: {html.escape(study.study_name)}</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
            f"</style></head><body>{header}{body}</body></html>")


def write_dashboard(study: optuna.Study, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dashboard(study), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.dashboard",
                                     description="Write a study's dashboard.html")
    parser.add_argument("--study", required=True, help="study name")
    parser.add_argument("--storage", default=None,
                        help="Optuna storage URL (default: sqlite:///runs/<study>/study.db)")
    parser.add_argument("--out", default=None, help="default: runs/<study>/dashboard.html")
    args = parser.parse_args(argv)
    if args.storage is None and not Path(f"runs/{args.study}/study.db").is_file():
        print(f"error: no study database at runs/{args.study}/study.db; pass --storage URL",
              file=sys.stderr)
        return 2
    storage = args.storage or f"sqlite:///runs/{args.study}/study.db"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=args.study, storage=storage)
    except KeyError:
        print(f"error: no study {args.study!r} in {storage}", file=sys.stderr)
        return 2
    out = write_dashboard(study, Path(args.out or f"runs/{args.study}/dashboard.html"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
