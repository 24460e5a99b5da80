"""The latency-profile section of the dashboard: predicted against measured latency, for
studies that time latency and also predict it from a profile (``latency.profile``)."""

from __future__ import annotations

from typing import NamedTuple

import optuna
import plotly.graph_objects as go

from reports._layout import LAYOUT
from stats import prediction_errors
from studies import records


class PredictionData(NamedTuple):
    """Trials whose latency was both timed and predicted from a latency profile."""

    numbers: list[int]
    arch: list[str]
    predicted: list[float]  # ratios to the plain backbone
    measured: list[float]
    errors: dict[str, float]  # runners.profile.prediction_errors


def prediction_data(study: optuna.Study) -> PredictionData | None:
    """Predicted against measured latency ratio, where a study has both (``latency.profile``
    beside a timed backend); None with fewer than 3 such trials."""
    rows = [t for t in records(study) if not t.is_duplicate and t.predicted_latency_ratio is not None
            and t.latency_ratio is not None and t.latency_record.is_measured]
    if len(rows) < 3:
        return None
    pred = [float(t.predicted_latency_ratio) for t in rows]  # type: ignore[arg-type]
    meas = [float(t.latency_ratio) for t in rows]  # type: ignore[arg-type]
    return PredictionData([t.number for t in rows], [t.arch_short or "?" for t in rows], pred, meas,
                          prediction_errors(zip(pred, meas, strict=True)))


def prediction_figure(data: PredictionData) -> go.Figure:
    """Predicted (latency profile) against measured latency ratio, with y = x."""
    e = data.errors
    lo, hi = min(data.predicted + data.measured), max(data.predicted + data.measured)
    fig = go.Figure([
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="predicted = measured",
                   line={"dash": "dot", "color": "#888"}),
        go.Scatter(x=data.predicted, y=data.measured, mode="markers", name="trial",
                   hovertext=[f"trial {n}: {a}" for n, a in zip(data.numbers, data.arch, strict=True)],
                   hoverinfo="text+x+y")])
    fig.update_layout(
        title=(f"Latency profile: predicted vs measured ratio to the plain backbone ({e['architectures']} "
               f"trials; median error {e['median_ape_pct']:.1f}%, largest {e['max_ape_pct']:.1f}%, "
               f"Kendall tau {e['kendall_tau']:.2f})"),
        xaxis_title="predicted from the profile", yaxis_title="measured here", height=420, **LAYOUT)
    return fig
