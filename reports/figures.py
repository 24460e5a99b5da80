"""The dashboard's figures: each draws one ``reports.figure_data`` value as a Plotly figure
(the Pareto front, hypervolume, what each stage wants, importance, costs, the timeline);
``reports.dashboard`` lays them out on the page."""

from __future__ import annotations

import plotly
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from reports._layout import LAYOUT
from reports.figure_data import FrontData, HypervolumeData, Importance, StageData, TimelineRow

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
