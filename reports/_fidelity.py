"""The proxy-fidelity section of the dashboard: what ``search.fidelity`` stored."""

from __future__ import annotations

import optuna
import plotly.graph_objects as go

from studies import FidelityRecord, StudyRecord


def fidelity_data(study: optuna.Study) -> FidelityRecord | None:
    """What ``search.fidelity`` stored in the study, or None if it has not run."""
    return StudyRecord.of(study).fidelity_record


def fidelity_figure(data: FidelityRecord) -> go.Figure:
    fig = go.Figure(go.Scatter(
        x=[r.proxy_accuracy for r in data.rows], y=[r.long_accuracy for r in data.rows], mode="markers",
        hovertext=[f"trial {r.trial}<br>{r.arch}" for r in data.rows], hoverinfo="text",
        marker=dict(size=10)))
    fig.update_layout(
        title=(f"Proxy vs {data.epochs:g}-epoch accuracy: Kendall tau {data.kendall_tau:.2f}, "
               f"Spearman rho {data.spearman_rho:.2f}; proxy seed std {data.spread_std:.4f}"),
        xaxis_title="proxy validation accuracy", yaxis_title="long-training validation accuracy",
        template="plotly_white", height=420)
    return fig


