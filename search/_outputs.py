"""What a run leaves behind besides the study: the front table, trials.csv, log lines."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

_CSV_ATTRS = ("reference", "duplicate_of", "arch_short", "accuracy", "val_loss", "latency_ms",
              "latency_ratio", "peak_memory", "params", "flops", "train_seconds",
              "images_per_second", "infeasible", "fail_reason")


def trial_line(t: FrozenTrial) -> str:
    """One line per finished trial: number, architecture, accuracy, latency, seconds."""
    ua = t.user_attrs
    secs = t.duration.total_seconds() if t.duration else 0.0
    head = f"#{t.number:<3d} {ua.get('arch_short', '?'):<36s}"
    if t.state == TrialState.COMPLETE:
        body = f"acc {ua['accuracy']:.4f}  lat {ua['latency_ms']:7.3f} ms"
        if "latency_ratio" in ua:
            body += f" (x{ua['latency_ratio']:.3f})"
    elif t.state == TrialState.PRUNED and ua.get("infeasible"):
        body = f"infeasible  lat {ua['latency_ms']:7.3f} ms (not trained)"
    else:
        body = f"{t.state.name.lower()}: {ua.get('fail_reason', 'see run.log')}"
    tags = []
    if "reference" in ua:
        tags.append(f"reference: {ua['reference']}")
    if ua.get("duplicate_of") is not None:
        tags.append(f"duplicate of #{ua['duplicate_of']}")
    return f"{head} {body}  {secs:6.1f} s" + (f"  [{'; '.join(tags)}]" if tags else "")


def front_table(front: list[FrozenTrial], *, knee_number: int | None) -> str:
    if not front:
        return "Pareto front: empty (no complete feasible trial)"
    lines = [f"Pareto front ({len(front)} architectures):",
             f"  {'trial':>5}  {'accuracy':>8}  {'latency ms':>10}  {'params':>8}  architecture"]
    for t in sorted(front, key=lambda t: t.user_attrs["latency_ms"]):
        ua = t.user_attrs
        mark = "  <- knee (best.yaml)" if t.number == knee_number else ""
        ref = f"  [{ua['reference']}]" if "reference" in ua else ""
        lines.append(f"  {t.number:>5}  {ua['accuracy']:>8.4f}  {ua['latency_ms']:>10.3f}  "
                     f"{ua['params']:>8,}  {ua['arch_short']}{ref}{mark}")
    return "\n".join(lines)


def write_trials_csv(study: optuna.Study, path: Path) -> Path:
    """Every trial, one row: number, state, values, the attributes above, timing."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["number", "state", *_CSV_ATTRS, "datetime_start", "duration_s"])
        for t in study.get_trials(deepcopy=False):
            ua = t.user_attrs
            w.writerow([t.number, t.state.name, *(ua.get(k, "") for k in _CSV_ATTRS),
                        t.datetime_start.isoformat() if t.datetime_start else "",
                        f"{t.duration.total_seconds():.2f}" if t.duration else ""])
    return path
