"""What a run leaves behind besides the study: the front table, trials.csv, log lines."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from studies import Claim, StudyClaims, TrialRecord, study_claims
from studies.claims import display_latency_ms

# TrialRecord fields, in this order, after number and state
_CSV_ATTRS = ("reference", "duplicate_of", "rung", "promoted_from", "arch_short", "accuracy",
              "val_loss", "latency_ms", "latency_ms_measured", "latency_ratio", "predicted_latency_ms",
              "predicted_latency_ratio", "peak_memory", "params", "flops", "latency_flops",
              "train_seconds", "images_per_second", "step_path", "graph_fallback", "infeasible",
              "fail_reason")
_CSV_NAMES = {"accuracy": "search_accuracy"}  # the trial's own training, at the search's seed(s)


def _latency(r: TrialRecord, scale: float | None) -> str:
    """A trial's latency as every report shows it: the ratio, and ratio x the study's scale."""
    if r.latency_ratio is not None and scale is not None:
        return f"lat x{r.latency_ratio:.3f} ({display_latency_ms(r, scale):.2f} ms)"
    return f"lat {r.latency_ms:7.3f} ms"


def trial_line(t: FrozenTrial, scale: float | None = None) -> str:
    """One line per finished trial: number, architecture, accuracy, latency (``scale``: the
    study's ``latency_scale_ms``), seconds."""
    r = TrialRecord.of(t)
    secs = r.duration_s or 0.0
    head = f"#{r.number:<3d} {r.arch_short or '?':<36s}"
    if r.state == TrialState.COMPLETE and r.accuracy is not None:
        body = f"acc {r.accuracy:.4f}" + (f" ({r.seeds} seeds)" if r.seeds > 1 else "")
        body += f"  {_latency(r, scale)}"
    elif r.state == TrialState.PRUNED and r.is_duplicate:
        body = "not trained"
    elif r.state == TrialState.PRUNED and r.is_infeasible:
        body = f"infeasible  {_latency(r, scale)} (not trained)"
    else:
        body = f"{r.state.name.lower()}: {r.fail_reason or 'see run.log'}"
    tags = []
    if r.rung:
        tags.append(f"rung {r.rung}, promoted from #{r.promoted_from}")
    if r.reference is not None:
        tags.append(f"reference: {r.reference}")
    if r.is_duplicate:
        tags.append(f"duplicate of #{r.duplicate_of}")
    return f"{head} {body}  {secs:6.1f} s" + (f"  [{'; '.join(tags)}]" if tags else "")


def _latency_text(c: Claim) -> str:
    if c.latency_ratio is None:
        return f"{c.latency_ms:.3f} ms"
    return f"x{c.latency_ratio:.3f} ({c.latency_ms:.2f} ms)"


def front_table(claims: StudyClaims, *, knee_number: int | None) -> str:
    """The front the study presents, each point with its interval and its verdict against
    the plain backbone, and the study's verdict in one sentence."""
    front = claims.front
    if not front:
        return "Pareto front: empty (no complete feasible trial)"
    basis = (f"confirmed means, {100 * claims.level:.0f}% intervals" if claims.confirmed
             else "single trainings, not confirmed")
    scale = (f"; ms = ratio x {claims.latency_scale_ms:.3f} ms, the plain backbone as timed beside the "
             "study's first timed trial"
             if claims.latency_scale_ms is not None else "")
    lines = [f"Pareto front ({len(front)} architectures; {basis}{scale}):"]
    for c in sorted(front, key=lambda c: c.latency_ms):
        mark = "  <- knee (best.yaml)" if c.number == knee_number else ""
        ref = f"  [{c.reference}]" if c.reference else ""
        lines.append(f"  #{c.number:<4d} {c.arch_short}{ref}{mark}")
        lines.append(f"        acc {c.accuracy_text()}  {c.verdict_text()}  lat {_latency_text(c)}")
    on_front = {c.number for c in front}
    dropped = [c for c in claims.claims if c.seeds >= 2 and c.number not in on_front and c.reference is None]
    for c in sorted(dropped, key=lambda c: c.number):
        lines.append(f"  confirmed, off the front: #{c.number} {c.arch_short}: acc {c.accuracy_text()}  "
                     f"{c.verdict_text()}")
    ref = claims.reference
    if ref is not None and all(c.number != ref.number for c in front):
        lines.append(f"  reference #{ref.number} no attention: acc {ref.accuracy_text()}  "
                     f"lat {_latency_text(ref)}")
    lines.append(claims.verdict)
    if claims.warning:
        lines.append(claims.warning)
    lines.append(claims.action)
    return "\n".join(lines)


def _cell(value: object) -> object:
    """A record field as trials.csv writes it: absent (None) and unset flags (False) are empty."""
    return "" if value is None or value is False else value


def write_trials_csv(study: optuna.Study, path: Path, *, claims: StudyClaims | None = None) -> Path:
    """Every trial, one row: number, state, the attributes above (``latency_ms`` as every report
    shows it, ratio x the study's scale; ``latency_ms_measured`` as timed then), the per-seed accuracies
    (search and confirmation), the mean over them with its interval, the paired
    difference to the reference with its interval and the verdict, timing."""
    claims = claims or study_claims(study)
    by_number = {c.number: c for c in claims.claims}
    front = {c.number for c in claims.front}
    confirmed = {c.number for c in claims.claims if claims.confirmed and c.seeds >= claims.confirm_seeds}
    scale = claims.latency_scale_ms
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        # accuracy is the trial's own training (the search's seed); mean_accuracy is over every
        # seed it has (search and confirmation); the front is on confirmed rows' mean_accuracy
        w.writerow(["number", "state", *(_CSV_NAMES.get(k, k) for k in _CSV_ATTRS), "seed_accuracies", "seeds",
                    "mean_accuracy", "confirmed", "on_front", "ci_low", "ci_high", "diff_vs_none",
                    "diff_ci_low", "diff_ci_high", "verdict", "datetime_start", "duration_s"])
        for t in study.get_trials(deepcopy=False):
            r = TrialRecord.of(t)
            c = by_number.get(t.number)
            stats = [""] * 11
            if c is not None:
                iv, div = c.interval or ("", ""), c.diff_interval or ("", "")
                stats = [";".join(f"{s}:{a:.4f}" for s, a in c.accuracies.items()), c.seeds,
                         f"{c.mean:.4f}", "yes" if c.number in confirmed else "no",
                         "yes" if c.number in front else "no", *(f"{v:.4f}" if v != "" else "" for v in iv),
                         "" if c.diff is None else f"{c.diff:.4f}",
                         *(f"{v:.4f}" if v != "" else "" for v in div), c.verdict]
            shown = {"latency_ms": None if r.latency_ms is None else round(display_latency_ms(r, scale), 6),
                     "latency_ms_measured": r.latency_ms}
            w.writerow([t.number, t.state.name, *(_cell(shown[k] if k in shown else getattr(r, k))
                                                  for k in _CSV_ATTRS), *stats,
                        t.datetime_start.isoformat() if t.datetime_start else "",
                        f"{t.duration.total_seconds():.2f}" if t.duration else ""])
    return path
