"""A self-contained Plotly dashboard of a study.

    python -m reports.dashboard --study NAME [--storage URL] [--out FILE]

One HTML file, plotly.js embedded (opens offline): a header (space, backbone,
dataset, budget, device, trials by state, compute time); the Pareto front;
hypervolume over trials; what each stage wants (accuracy and latency by
attention type); hyper-parameter importance per objective; latency against
FLOPs and params; a trial timeline; the proxy-fidelity check when it has run;
and a sortable table of the Pareto architectures with their exact configs.
The values behind each figure come from ``reports.figure_data`` (tested without a
browser); this module only draws them.
"""

from __future__ import annotations

import html
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import plotly
import plotly.graph_objects as go
import yaml
from plotly.subplots import make_subplots

from reports._fidelity import fidelity_data, fidelity_figure
from reports._layout import LAYOUT
from reports._prediction import prediction_data, prediction_figure
from reports.describe import describe_backbone, describe_budget, describe_data, describe_latency
from reports.figure_data import (
    FrontData,
    HypervolumeData,
    Importance,
    StageData,
    TimelineRow,
    front_data,
    hypervolume_data,
    importance_data,
    stage_data,
    timeline_data,
    total_compute_seconds,
)
from reports.rungs import rung_data, rung_figure, rung_summary
from spaces import FORMAT_VERSION
from studies import StudyClaims, StudyRecord, TrialRecord, records
from studies.cli import run_on_study, study_parser

_STYLE = {"search": ("#1f77b4", "circle"), "infeasible": ("#7f7f7f", "x")}
# the references, one legend entry each: the plain backbone first, in the band's colour
_REFERENCE_STYLES = [("#d62728", "diamond"), ("#9467bd", "square"), ("#ff7f0e", "triangle-up"),
                     ("#2ca02c", "pentagon"), ("#8c564b", "hexagon"), ("#e377c2", "star"),
                     ("#17becf", "triangle-down"), ("#bcbd22", "cross")]
_STATE_COLOURS = {"complete": "#2ca02c", "duplicate": "#17becf", "infeasible": "#7f7f7f",
                  "fail": "#d62728", "running": "#ff7f0e", "pruned": "#bcbd22", "waiting": "#c7c7c7"}


def _x(p, cost: str) -> float:
    return p.latency_ms if cost == "latency_ms" else p.costs[cost]


def _axis_title(data: FrontData, cost: str) -> str:
    scale = data.claims.latency_scale_ms if data.claims is not None else None
    setting = data.latency_setting
    if cost == "latency_ms" and scale is not None:
        return (f"latency ({', '.join(filter(None, ('ms', setting)))}) = latency_ratio x "
                f"{scale:.3f} ms, the plain backbone as timed beside the study's first timed trial")
    if cost in ("latency_ms", "latency_ratio") and setting:
        return f"{cost} ({setting})"
    return cost


def _groups(data: FrontData, cost: str) -> list[tuple[str, str, str, list]]:
    """(legend name, colour, marker, points): searched trials, each reference alone, infeasible."""
    shown = [p for p in data.points if cost == "latency_ms" or cost in p.costs]
    refs = sorted({p.label or p.arch for p in shown if p.kind == "reference"},
                  key=lambda name: (name != "no attention", name))
    groups = [("search", *_STYLE["search"], [p for p in shown if p.kind == "search"])]
    for i, name in enumerate(refs):
        colour, symbol = _REFERENCE_STYLES[i % len(_REFERENCE_STYLES)]
        groups.append((f"reference: {name}", colour, symbol,
                       [p for p in shown if p.kind == "reference" and (p.label or p.arch) == name]))
    groups.append(("infeasible (not trained)", *_STYLE["infeasible"],
                   [p for p in shown if p.kind == "infeasible"]))
    return [g for g in groups if g[3]]


def front_figure(data: FrontData, cost: str = "latency_ms") -> go.Figure:
    """Accuracy (mean over seeds, with its interval where confirmed) against ``cost``; the
    front the study presents as a step line with its points ringed (a one-point front is a
    ring); each reference its own colour, marker and legend entry; the plain backbone's
    interval as a band that is a legend entry too (click to hide it). The y axis spans the
    points' means, not the band: a wide interval shades the plot and hides nothing (infeasible
    trials sit at the axis' foot)."""
    fig = go.Figure()
    ref = data.claims.reference if data.claims is not None else None
    ys = [p.accuracy for p in data.points if p.kind != "infeasible" and p.accuracy == p.accuracy]
    pad = max(0.01, 0.15 * (max(ys) - min(ys))) if ys else 0.0  # the means; bars may leave it
    foot = min(ys) - pad if ys else 0.0
    for name, color, symbol, pts in _groups(data, cost):
        infeasible = name.startswith("infeasible")
        bars = [(p.accuracy - p.interval[0], p.interval[1] - p.accuracy) if p.interval else (0.0, 0.0)
                for p in pts]
        fig.add_trace(go.Scatter(
            x=[_x(p, cost) for p in pts],
            y=[foot if infeasible else p.accuracy for p in pts],
            error_y=dict(type="data", symmetric=False, array=[b[1] for b in bars],
                         arrayminus=[b[0] for b in bars], visible=any(p.interval for p in pts),
                         color=color, thickness=1.5),
            mode="markers", name=name,
            marker=dict(color=color, symbol=symbol, size=[13 if p.on_front else 9 for p in pts],
                        line=dict(width=[2 if p.on_front else 0 for p in pts], color="black")),
            hovertext=[p.hover for p in pts], hoverinfo="text"))
    front = sorted((p for p in data.front if cost == "latency_ms" or cost in p.costs),
                   key=lambda p: _x(p, cost))
    if front:
        confirmed = data.claims is not None and data.claims.confirmed
        fig.add_trace(go.Scatter(
            x=[_x(p, cost) for p in front], y=[p.accuracy for p in front], mode="lines+markers",
            line=dict(shape="hv", color="black"),
            marker=dict(symbol="circle-open", size=22, color="black", line=dict(width=2)),
            name=f"Pareto front, {len(front)} point{'s' * (len(front) != 1)}"
                 + (" (confirmed means)" if confirmed else " (single trainings)"),
            hoverinfo="skip"))
    if ref is not None and ref.interval is not None:
        xs = [_x(p, cost) for p in data.points if cost == "latency_ms" or cost in p.costs] or [0.0]
        lo, hi = ref.interval
        fig.add_trace(go.Scatter(
            x=[min(xs), max(xs), max(xs), min(xs), min(xs)], y=[lo, lo, hi, hi, lo], fill="toself",
            fillcolor="rgba(214,39,40,0.10)", line=dict(color="rgba(214,39,40,0.5)", dash="dot", width=1),
            mode="lines", hoverinfo="text",
            hovertext=f"no attention: {100 * data.claims.level:.0f}% interval [{lo:.4f}, {hi:.4f}]",
            name=f"no attention, {100 * data.claims.level:.0f}% interval ({ref.seeds} seeds)"))
    yaxis = {"range": [foot - pad, max(ys) + pad]} if ys else {}
    fig.update_layout(title=f"Validation accuracy against {cost} (Pareto front ringed; bars: "
                            "interval of the mean over seeds)",
                      xaxis_title=_axis_title(data, cost), yaxis_title="validation accuracy",
                      yaxis=yaxis, height=520, **LAYOUT)
    return fig


def hypervolume_figure(data: HypervolumeData) -> go.Figure:
    fig = go.Figure(go.Scatter(x=data.trials, y=data.hypervolume, mode="lines+markers",
                               line=dict(shape="hv")))
    fig.update_layout(
        title=(f"Hypervolume of (accuracy, {data.cost}) over trials; reference point: accuracy "
               f"{data.reference[0]:g}, {data.cost} {data.reference[1]:.4g}"),
        xaxis_title="trial", yaxis_title="hypervolume", height=360, **LAYOUT)
    return fig


def stage_figure(data: StageData) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "validation accuracy by attention type (each architecture's mean over its seeds, as in the scatter)",
        "latency (ms) by attention type"))
    types = sorted({a for _, a in data.accuracy}, key=lambda a: (a != "none", a))
    palette = ["#7f7f7f", *plotly.colors.qualitative.Dark24]  # grey for none; 24 for the zoo
    for i, a in enumerate(types):
        for col, values in ((1, data.accuracy), (2, data.latency)):
            xs, ys = [], []
            for s in data.stages:
                vals = values.get((s, a), [])
                xs += [s] * len(vals)
                ys += vals
            fig.add_trace(go.Box(x=xs, y=ys, name=a, legendgroup=a, showlegend=col == 1,
                                 marker_color=palette[i % len(palette)], boxpoints="all",
                                 jitter=0.4, pointpos=0), row=1, col=col)
    fig.update_layout(boxmode="group", title="What each stage wants", height=440, **LAYOUT)
    return fig


def importance_figure(data: list[Importance]) -> go.Figure:
    fig = make_subplots(rows=1, cols=len(data), subplot_titles=[i.objective for i in data])
    for col, imp in enumerate(data, start=1):
        top = sorted(imp.importances.items(), key=lambda kv: kv[1])[-12:]
        fig.add_trace(go.Bar(x=[v for _, v in top], y=[k for k, _ in top], orientation="h",
                             showlegend=False), row=1, col=col)
    fig.update_layout(title="Hyper-parameter importance per objective (PED-ANOVA)",
                      height=440, **LAYOUT)
    return fig


def cost_figure(data: FrontData) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("latency vs FLOPs", "latency vs params"))
    pts = [p for p in data.points if {"flops", "params"} <= p.costs.keys()]
    # FLOPs at the size latency was timed at, where that is not the training size
    flops = "latency_flops" if pts and all("latency_flops" in p.costs for p in pts) else "flops"
    for t in sorted({p.types for p in pts}):
        group = [p for p in pts if p.types == t]
        for col, metric in ((1, flops), (2, "params")):
            fig.add_trace(go.Scatter(
                x=[p.costs[metric] for p in group], y=[p.latency_ms for p in group],
                mode="markers", name=t, legendgroup=t, showlegend=col == 1,
                hovertext=[p.hover for p in group], hoverinfo="text"), row=1, col=col)
    fig.update_yaxes(title_text=f"latency ({', '.join(filter(None, ('ms', data.latency_setting)))})")
    fig.update_layout(title="Cost relations, coloured by the attention types used", height=420,
                      **LAYOUT)
    return fig


def timeline_figure(rows: list[TimelineRow]) -> go.Figure:
    fig = go.Figure()
    for state in sorted({r.state for r in rows}):
        group = [r for r in rows if r.state == state]
        fig.add_trace(go.Bar(
            base=[r.start for r in group], x=[max(r.seconds, 0.05) * 1000 for r in group],
            y=[r.number for r in group], orientation="h", name=state,
            marker_color=_STATE_COLOURS.get(state, "#333"),
            hovertext=[f"trial {r.number}: {state}, {r.seconds:.1f} s" for r in group],
            hoverinfo="text"))
    fig.update_layout(title="Trial timeline", xaxis=dict(type="date"), yaxis_title="trial",
                      barmode="overlay", height=max(300, 14 * len(rows) + 120), **LAYOUT)
    return fig


_SORT_JS = """
<script>
function sortTable(col) {
  const t = document.getElementById('front-table');
  const rows = [...t.tBodies[0].rows];
  const asc = t.dataset.col == col && t.dataset.dir != 'asc';
  t.dataset.col = col; t.dataset.dir = asc ? 'asc' : 'desc';
  rows.sort((a, b) => {
    const x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
    const nx = parseFloat(x), ny = parseFloat(y);
    const c = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
    return asc ? c : -c;
  });
  rows.forEach(r => t.tBodies[0].appendChild(r));
}
</script>"""


def _predicted_cell(t: TrialRecord) -> tuple[Any, str]:
    if t.predicted_latency_ms is None:
        return "", "—"
    return t.predicted_latency_ms, f"{t.predicted_latency_ms:.3f}"


def _table(study: optuna.Study, data: FrontData) -> str:
    trials = {r.number: r for r in records(study)}
    front = [trials[p.number] for p in data.front]
    predicted_only = any(t.latency_record.is_predicted for t in front)
    # a latency profile beside timed latency: both, side by side
    both = not predicted_only and any(t.predicted_latency_ms is not None for t in front)
    head = "".join(f"<th onclick='sortTable({i})'>{h} ⇅</th>" for i, h in enumerate(
        ("trial", "architecture", "accuracy (mean)", "interval", "seeds", "vs no attention",
         "latency ms (predicted)" if predicted_only else "latency ms",
         *(["predicted ms (profile)"] * both), "params", "FLOPs")))
    claims = {c.number: c for c in data.claims.claims} if data.claims is not None else {}
    body = ""
    for p in data.front:
        c = claims.get(p.number)
        interval = (f"[{c.interval[0]:.4f}, {c.interval[1]:.4f}]" if c is not None and c.interval
                    else "—")
        arch = dict(trials[p.number].arch or {})
        config = html.escape(yaml.safe_dump({"format_version": FORMAT_VERSION, "architecture": arch},
                                            sort_keys=False))
        cells = [(p.number, str(p.number)),
                 (p.arch, f"<code>{html.escape(p.arch)}</code><details><summary>config "
                  f"(python -m search.export --pick trial={p.number})</summary><pre>{config}"
                  "</pre></details>"),
                 (p.accuracy, f"{p.accuracy:.4f}"),
                 (c.interval[0] if c is not None and c.interval else "", interval),
                 (p.seeds, str(p.seeds)),
                 (c.diff if c is not None and c.diff is not None else "", html.escape(p.verdict)),
                 (p.latency_ms, f"{p.latency_ms:.3f}"),
                 *([_predicted_cell(trials[p.number])] * both),
                 (p.costs.get("params", 0), f"{int(p.costs.get('params', 0)):,}"),
                 (p.costs.get("flops", 0), f"{int(p.costs.get('flops', 0)):,}")]
        body += "<tr>" + "".join(f"<td data-v='{html.escape(str(v))}'>{h}</td>"
                                 for v, h in cells) + "</tr>"
    return (f"<table id='front-table'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{_SORT_JS}")




def _settings(info: StudyRecord) -> str:
    """The stored space's settings in words, read back typed (a space this version's schema
    refuses raises ``SpaceError``, as the claims do: the command's one message, not a guess)."""
    cfg = info.config
    if cfg is None:
        return "<li>settings: not recorded (the run stopped before it stored its space)</li>"
    confirm = cfg.confirm
    seeds = (f"{cfg.search.seeds} seed(s) per architecture during the search; "
             + (f"front and reference confirmed with {confirm.seeds} paired seeds" if confirm
                else "no confirmation"))
    sizes = tuple(info.data_sizes) if info.data_sizes else None
    return (f"<li>{html.escape(describe_backbone(cfg.backbone))} on "
            f"{html.escape(describe_data(cfg.dataset, sizes))}</li>"
            f"<li>proxy training: {html.escape(describe_budget(cfg.budget))}, on "
            f"{html.escape(str(info.device or '?').upper())}; {html.escape(seeds)}</li>"
            f"<li>objectives: {html.escape(', '.join(info.objectives))}; "
            f"{html.escape(describe_latency(cfg.latency, info.latency_profile))}</li>")


def _header(study: optuna.Study, data: FrontData) -> str:
    info = StudyRecord.of(study)
    counts = ", ".join(f"{k}: {v}" for k, v in data.counts.items() if v) or "none yet"
    compute = timedelta(seconds=round(total_compute_seconds(study)))
    claims = data.claims
    verdict = claims.verdict if claims is not None else ""
    todo = f"<p class='action'><b>{html.escape(claims.action)}</b></p>" if claims is not None else ""
    warn = (f"<p class='warning'><b>{html.escape(claims.warning)}</b></p>"
            if claims is not None and claims.warning else "")
    classes = (f"<li>{claims.num_classes} classes: chance accuracy {1 / claims.num_classes:.4f}</li>"
               if claims is not None and claims.num_classes else "")
    return (f"<h1>attnas — {html.escape(study.study_name)}</h1>{todo}{warn}"
            f"<p class='verdict'>{html.escape(verdict)}</p><ul>{classes}"
            f"<li>space: <code>{html.escape(str(info.space_path or '?'))}</code> "
            f"(sha256 {html.escape(str(info.space_sha256 or '?')[:12])})</li>"
            f"{_settings(info)}"
            f"<li>trials — {html.escape(counts)}; total compute {compute}</li>"
            f"<li>written {datetime.now().isoformat(timespec='seconds')}</li></ul>")


def _div(fig: go.Figure, div_id: str, first: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=first, div_id=div_id)


def render_dashboard(study: optuna.Study, *, claims: StudyClaims | None = None) -> str:
    """The dashboard as one HTML document with plotly.js embedded."""
    fdata = front_data(study, claims=claims)
    parts = [_header(study, fdata)]
    if not any(p.kind != "infeasible" for p in fdata.points):
        parts.append("<p class='empty'><b>No complete trial yet:</b> the figures appear once a "
                     "trial finishes (infeasible trials are listed in trials.csv).</p>")
    else:
        notes: list[str] = []
        figures = [("pareto-front", front_figure(fdata))]
        for cost in fdata.objectives:
            # latency_ratio is drawn by the first figure, in ms through the study's scale
            if cost not in ("accuracy", "latency_ms", "latency_ratio"):
                figures.append((f"pareto-{cost}", front_figure(fdata, cost)))
        hv = hypervolume_data(study)
        if hv:
            figures.append(("hypervolume", hypervolume_figure(hv)))
        figures.append(("stages", stage_figure(stage_data(study, claims=fdata.claims))))
        imp = importance_data(study)
        if imp:
            figures.append(("importance", importance_figure(imp)))
        else:
            notes.append("Hyper-parameter importance appears once the study has at least 4 "
                         "complete distinct trials.")
        figures += [("costs", cost_figure(fdata)), ("timeline", timeline_figure(timeline_data(study)))]
        rungs = rung_data(study)
        if rungs:
            figures.append(("rungs", rung_figure(rungs)))
        pred = prediction_data(study)
        if pred:
            figures.append(("latency-prediction", prediction_figure(pred)))
        fid = fidelity_data(study)
        if fid:
            figures.append(("fidelity", fidelity_figure(fid)))
        parts += [_div(f, div_id, i == 0) for i, (div_id, f) in enumerate(figures)]
        parts += [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
        if not fid:
            parts.append("<p>Proxy fidelity not measured yet: run <code>python -m search.fidelity "
                         f"--study {html.escape(study.study_name)}</code>.</p>")
        parts.append("<h2>Pareto architectures</h2>" + _table(study, fdata))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>attnas: {html.escape(study.study_name)}</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
            "vertical-align:top}th{cursor:pointer;background:#f4f4f4}pre{margin:0}"
            ".verdict{font-size:1.15em;padding:.6em;background:#f6f8fa;border-left:4px solid #444}"
            ".action{font-size:1.3em;padding:.6em;background:#eef6ee;border-left:4px solid #2ca02c}"
            ".warning{font-size:1.15em;padding:.6em;background:#fff4e5;border-left:4px solid #d62728}"
            f"</style></head><body>{''.join(parts)}</body></html>")


def rung_lines(study: optuna.Study) -> list[str]:
    """What the rungs did, for the terminal after a search (``reports.rungs.rung_summary``);
    nothing for a single-fidelity study."""
    data = rung_data(study)
    return rung_summary(data) if data else []


def write_dashboard(study: optuna.Study, path: Path, *, claims: StudyClaims | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dashboard(study, claims=claims), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = study_parser("python -m reports.dashboard", "Write a study's dashboard.html")
    parser.add_argument("--out", default=None, help="default: runs/<study>/dashboard.html")
    args = parser.parse_args(argv)

    def dashboard(study: optuna.Study) -> int:
        print(f"wrote {write_dashboard(study, Path(args.out or f'runs/{args.study}/dashboard.html'))}")
        return 0

    return run_on_study(args, dashboard)


if __name__ == "__main__":
    sys.exit(main())
