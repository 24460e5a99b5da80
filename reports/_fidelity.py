"""The proxy-fidelity section of the dashboard: what ``search.fidelity`` stored."""

from __future__ import annotations

from typing import NamedTuple

import optuna
import plotly.graph_objects as go

from studies import StudyRecord


class FidelityData(NamedTuple):
    kendall_tau: float
    spearman_rho: float
    epochs: float
    points: list[tuple[int, str, float, float]]  # trial, arch, proxy accuracy, long accuracy
    seed_std: float
    seed_accuracies: list[float]


def fidelity_data(study: optuna.Study) -> FidelityData | None:
    """What ``search.fidelity`` stored in the study, or None if it has not run."""
    f = StudyRecord.of(study).fidelity
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


