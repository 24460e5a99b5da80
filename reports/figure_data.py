"""What each dashboard figure shows, as plain values (tested without a browser)."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import optuna
from optuna.trial import TrialState

from studies import Claim, StudyClaims, StudyRecord, TrialRecord, records, study_claims
from studies.claims import display_latency_ms
from studies.pareto import hypervolume_2d


class Point(NamedTuple):
    number: int
    accuracy: float  # the mean over seeds (one seed unless confirmed)
    latency_ms: float  # latency_ratio x the study's scale where the ratio was measured
    arch: str
    kind: str  # "reference" | "search" | "infeasible"
    on_front: bool
    hover: str
    costs: dict[str, float]  # every measured cost: latency_ms, flops, params, ...
    types: str  # the attention types the architecture uses, e.g. "eca+se" or "none"
    interval: tuple[float, float] | None = None  # of the mean accuracy; None for one seed
    seeds: int = 1
    verdict: str = ""  # against the plain backbone, in words (studies.claims)
    label: str = ""  # a reference trial's name ("no attention", "SE everywhere"); "" for others


class FrontData(NamedTuple):
    points: list[Point]
    front: list[Point]  # the front the study presents (confirmed means), sorted by latency
    counts: dict[str, int]
    objectives: list[str]
    claims: StudyClaims | None = None
    latency_setting: str = ""  # how latency was timed: "batch 1 at 28 px on cpu"


class StageData(NamedTuple):
    stages: list[str]
    accuracy: dict[tuple[str, str], list[float]]  # (stage, type) -> accuracies
    latency: dict[tuple[str, str], list[float]]  # (stage, type) -> latencies


class HypervolumeData(NamedTuple):
    trials: list[int]
    hypervolume: list[float]
    reference: tuple[float, float]  # (accuracy, cost)
    cost: str


class TimelineRow(NamedTuple):
    number: int
    start: str
    seconds: float
    state: str


class Importance(NamedTuple):
    objective: str
    importances: dict[str, float]


COST_METRICS = ("latency_ms", "latency_ratio", "flops", "latency_flops", "params", "peak_memory")


def trial_kind(t: TrialRecord) -> str | None:
    """How a trial is drawn: reference, search, infeasible; None if not drawn."""
    if t.latency_ms is None or t.is_duplicate:
        return None
    if t.state == TrialState.COMPLETE:
        return "reference" if t.reference is not None else "search"
    if t.is_infeasible:
        return "infeasible"
    return None


def _hover(t: TrialRecord, claim: Claim | None = None, scale: float | None = None) -> str:
    stages = "<br>".join(
        f"  {i + 1}: {part}" for i, part in enumerate((t.arch_short or "?").split("|")))
    lines = [f"<b>trial {t.number}</b>" + (f" ({t.reference})" if t.reference is not None else ""),
             stages]
    if claim is not None:
        lines.append(f"accuracy: {claim.accuracy_text()}")
        if claim.seeds > 1:
            lines.append("by seed: " + ", ".join(f"{s}: {a:.4f}" for s, a in claim.accuracies.items()))
        lines.append(claim.verdict_text())
    predicted = t.latency_record.is_predicted
    how = "predicted" if predicted else "measured"
    if t.latency_ms is not None:  # the figure every report shows, then the timing it came from
        if t.latency_ratio is not None and scale is not None:
            lines.append(f"latency: {display_latency_ms(t, scale):.3f} ms "
                         f"(x{t.latency_ratio:.3f} x {scale:.3f} ms, the study's scale)")
            lines.append(f"latency_ms_measured: {t.latency_ms:.3f} ms {how} then")
        else:
            lines.append(f"latency: {t.latency_ms:.3f} ms {how}")
    for k, fmt in (("accuracy", "{:.4f}"),
                   ("latency_ratio", "x{:.3f} the plain backbone"),
                   ("predicted_latency_ms", "{:.3f} ms on the profiled device"),
                   ("params", "{:,}"), ("flops", "{:,}"), ("latency_flops", "{:,} at the latency size"),
                   ("train_seconds", "{:.1f} s")):
        if getattr(t, k) is not None and not (k == "accuracy" and claim is not None) and not (
                k == "predicted_latency_ms" and predicted):
            lines.append(f"{k}: {fmt.format(getattr(t, k))}")
    return "<br>".join(lines)


def _types(t: TrialRecord) -> str:
    used = sorted(({s.attention for s in t.stages} | {s.conv for s in t.stages}) - {"none", "standard"})
    return "+".join(used) or "none"


def front_data(study: optuna.Study, *, claims: StudyClaims | None = None) -> FrontData:
    """Accuracy and costs of every measured trial, and the Pareto front."""
    trials = records(study)
    counts = {"complete": 0, "infeasible": 0, "duplicate": 0, "fail": 0, "running": 0}
    for t in trials:
        if t.is_duplicate:
            counts["duplicate"] += 1
        elif t.is_infeasible:
            counts["infeasible"] += 1
        elif t.state.name.lower() in counts:
            counts[t.state.name.lower()] += 1
    claims = claims or study_claims(study)
    by_number = {c.number: c for c in claims.claims}
    best = {c.number for c in claims.front}
    points = []
    for t in trials:
        kind = trial_kind(t)
        if kind is None:
            continue
        c = by_number.get(t.number)
        costs = {k: float(getattr(t, k)) for k in COST_METRICS if getattr(t, k) is not None}
        costs["latency_ms"] = display_latency_ms(t, claims.latency_scale_ms)  # one figure everywhere
        points.append(Point(t.number, c.mean if c else float(t.accuracy or float("nan")),
                            costs["latency_ms"], t.arch_short or "?",
                            kind, t.number in best, _hover(t, c, claims.latency_scale_ms), costs, _types(t),
                            c.interval if c else None, c.seeds if c else 1,
                            c.verdict_text() if c else "", t.reference or ""))
    front = sorted((p for p in points if p.on_front), key=lambda p: p.latency_ms)
    return FrontData(points, front, counts, list(StudyRecord.of(study).objectives), claims,
                     latency_setting(trials))


def latency_setting(trials: list[TrialRecord]) -> str:
    """How the study's latencies were timed, from the first measured trial: batch, input size
    (the deployment size where ``latency.input_size`` set one), device."""
    lat = next((t.latency_record for t in trials if t.latency), None)
    if lat is None:
        return ""
    size = f" at {lat.input_size} px" if lat.input_size else ""
    how = f"batch {lat.batch_size or '?'}{size} on {lat.device or '?'}"
    return f"predicted, {how}" if lat.is_predicted else how


def stage_data(study: optuna.Study, *, claims: StudyClaims | None = None) -> StageData:
    """Per stage and choice (attention, ``+conv`` when not standard): the accuracies and
    latencies of complete trials, each architecture with the figures the scatter shows (its
    mean over every seed it has, search and confirmation; ms as latency_ratio x the study's
    scale where the ratio was measured, as everywhere else in the reports)."""
    claims = claims or study_claims(study)
    means = {c.number: c.mean for c in claims.claims}
    scale = claims.latency_scale_ms
    acc: dict[tuple[str, str], list[float]] = {}
    lat: dict[tuple[str, str], list[float]] = {}
    stages: list[str] = []
    names = StudyRecord.of(study).stage_names  # studies before it: stage1, stage2, ...
    for t in records(study, states=(TrialState.COMPLETE,)):
        if trial_kind(t) not in ("search", "reference") or t.arch is None:
            continue
        for i, stage in enumerate(t.stages):
            name = names[i] if i < len(names) else f"stage{i + 1}"
            if name not in stages:
                stages.append(name)
            choice = stage.label()
            acc.setdefault((name, choice), []).append(means.get(t.number, t.accuracy))
            lat.setdefault((name, choice), []).append(display_latency_ms(t, scale))
    return StageData(stages, acc, lat)


def hypervolume_data(study: optuna.Study) -> HypervolumeData | None:
    """Hypervolume of (accuracy, first cost objective) after each trial, in trial order.

    The reference point is fixed for the study and stated: accuracy 0 and the
    largest value of the cost among feasible complete trials.
    """
    objectives = StudyRecord.of(study).objectives
    cost = next((o for o in objectives if o != "accuracy"), None)
    if cost is None or "accuracy" not in objectives:
        return None
    done = [t for t in records(study, states=(TrialState.COMPLETE,))
            if getattr(t, cost, None) is not None and t.accuracy is not None]
    if not done:
        return None
    ref = (0.0, max(float(getattr(t, cost)) for t in done))
    seen: list[tuple[float, float]] = []
    numbers, hvs = [], []
    for t in sorted(done, key=lambda t: t.number):
        seen.append((1.0 - t.accuracy, float(getattr(t, cost))))  # type: ignore[operator]
        numbers.append(t.number)
        hvs.append(hypervolume_2d(seen, (1.0 - ref[0], ref[1])))
    return HypervolumeData(numbers, hvs, ref, cost)


def timeline_data(study: optuna.Study) -> list[TimelineRow]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.datetime_start is None:
            continue
        r = TrialRecord.of(t)
        seconds = r.duration_s or 0.0
        state = "duplicate" if r.is_duplicate else "infeasible" if r.is_infeasible else t.state.name.lower()
        rows.append(TimelineRow(t.number, t.datetime_start.isoformat(), seconds, state))
    return rows


def importance_data(study: optuna.Study) -> list[Importance]:
    """Hyper-parameter importance per objective, with Optuna's PED-ANOVA evaluator.

    PED-ANOVA needs no extra package and handles conditional parameters (a
    module's hyper-parameters exist only in trials that chose it).
    """
    objectives = StudyRecord.of(study).objectives
    complete = [r for r in records(study, states=(TrialState.COMPLETE,)) if not r.is_duplicate]
    if len(complete) < 4:
        return []
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    out = []
    for i, name in enumerate(objectives):
        # PED-ANOVA explains *low* target values: negate the objectives to maximise
        sign = -1.0 if study.directions[i] == optuna.study.StudyDirection.MAXIMIZE else 1.0
        try:
            with warnings.catch_warnings():  # "regimes with < 2 trials" on small studies
                warnings.simplefilter("ignore", UserWarning)
                imp = optuna.importance.get_param_importances(
                    study, evaluator=evaluator, target=lambda t, i=i, sign=sign: sign * t.values[i])
        except (ValueError, RuntimeError):
            continue
        out.append(Importance(name, dict(imp)))
    return out


def total_compute_seconds(study: optuna.Study) -> float:
    return sum(t.duration.total_seconds() for t in study.get_trials(deepcopy=False) if t.duration)
