"""What each dashboard figure shows, as plain values (tested without a browser)."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from reports.claims import Claim, StudyClaims, latency_scale_ms, study_claims


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
    verdict: str = ""  # against the plain backbone, in words (reports.claims)


class FrontData(NamedTuple):
    points: list[Point]
    front: list[Point]  # the front the study presents (confirmed means), sorted by latency
    counts: dict[str, int]
    objectives: list[str]
    claims: StudyClaims | None = None


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


COST_METRICS = ("latency_ms", "latency_ratio", "flops", "params", "peak_memory")


def trial_kind(t: FrozenTrial) -> str | None:
    """How a trial is drawn: reference, search, infeasible; None if not drawn."""
    ua = t.user_attrs
    if "latency_ms" not in ua or ua.get("duplicate_of") is not None:
        return None
    if t.state == TrialState.COMPLETE:
        return "reference" if "reference" in ua else "search"
    if ua.get("infeasible"):
        return "infeasible"
    return None


def _hover(t: FrozenTrial, claim: Claim | None = None) -> str:
    ua = t.user_attrs
    stages = "<br>".join(
        f"  {i + 1}: {part}" for i, part in enumerate(ua.get("arch_short", "?").split("|")))
    lines = [f"<b>trial {t.number}</b>" + (f" ({ua['reference']})" if "reference" in ua else ""),
             stages]
    if claim is not None:
        lines.append(f"accuracy: {claim.accuracy_text()}")
        if claim.seeds > 1:
            lines.append("by seed: " + ", ".join(f"{s}: {a:.4f}" for s, a in claim.accuracies.items()))
        lines.append(claim.verdict_text())
    for k, fmt in (("accuracy", "{:.4f}"), ("latency_ms", "{:.3f} ms measured"),
                   ("latency_ratio", "x{:.3f} the plain backbone"),
                   ("params", "{:,}"), ("flops", "{:,}"), ("train_seconds", "{:.1f} s")):
        if k in ua and not (k == "accuracy" and claim is not None):
            lines.append(f"{k}: {fmt.format(ua[k])}")
    return "<br>".join(lines)


def _types(t: FrozenTrial) -> str:
    stages = t.user_attrs.get("arch", {}).get("stages", [])
    used = sorted(({s["attention"] for s in stages} | {s.get("conv", "standard") for s in stages})
                  - {"none", "standard"})
    return "+".join(used) or "none"


def front_data(study: optuna.Study) -> FrontData:
    """Accuracy and costs of every measured trial, and the Pareto front."""
    trials = study.get_trials(deepcopy=False)
    counts = {"complete": 0, "infeasible": 0, "duplicate": 0, "fail": 0, "running": 0}
    for t in trials:
        ua = t.user_attrs
        if ua.get("duplicate_of") is not None:
            counts["duplicate"] += 1
        elif ua.get("infeasible"):
            counts["infeasible"] += 1
        elif t.state.name.lower() in counts:
            counts[t.state.name.lower()] += 1
    claims = study_claims(study)
    by_number = {c.number: c for c in claims.claims}
    best = {c.number for c in claims.front}
    points = []
    for t in trials:
        kind = trial_kind(t)
        if kind is None:
            continue
        ua = t.user_attrs
        c = by_number.get(t.number)
        costs = {k: float(ua[k]) for k in COST_METRICS if k in ua}
        points.append(Point(t.number, c.mean if c else float(ua.get("accuracy", float("nan"))),
                            c.latency_ms if c else float(ua["latency_ms"]), ua.get("arch_short", "?"),
                            kind, t.number in best, _hover(t, c), costs, _types(t),
                            c.interval if c else None, c.seeds if c else 1,
                            c.verdict_text() if c else ""))
    front = sorted((p for p in points if p.on_front), key=lambda p: p.latency_ms)
    return FrontData(points, front, counts, list(study.user_attrs.get("objectives", [])), claims)


def stage_data(study: optuna.Study) -> StageData:
    """Per stage and choice (attention, ``+conv`` when not standard): the accuracies and
    latencies of complete trials (ms as latency_ratio x the study's scale where the ratio was
    measured, as everywhere else in the reports)."""
    scale = latency_scale_ms(study)
    acc: dict[tuple[str, str], list[float]] = {}
    lat: dict[tuple[str, str], list[float]] = {}
    stages: list[str] = []
    names = study.user_attrs.get("stage_names", [])  # studies before it: stage1, stage2, ...
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial_kind(t) not in ("search", "reference"):
            continue
        for i, stage in enumerate(t.user_attrs["arch"]["stages"]):
            name = names[i] if i < len(names) else f"stage{i + 1}"
            if name not in stages:
                stages.append(name)
            conv = stage.get("conv", "standard")
            choice = stage["attention"] if conv == "standard" else f"{stage['attention']}+{conv}"
            acc.setdefault((name, choice), []).append(t.user_attrs["accuracy"])
            ratio = t.user_attrs.get("latency_ratio")
            lat.setdefault((name, choice), []).append(
                ratio * scale if ratio is not None and scale is not None else t.user_attrs["latency_ms"])
    return StageData(stages, acc, lat)


def hypervolume_2d(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by minimisation ``points`` up to ``reference``."""
    hv, best_y = 0.0, reference[1]
    for x, y in sorted(points):
        if x < reference[0] and y < best_y:
            hv += (reference[0] - x) * (best_y - y)
            best_y = y
    return hv


def hypervolume_data(study: optuna.Study) -> HypervolumeData | None:
    """Hypervolume of (accuracy, first cost objective) after each trial, in trial order.

    The reference point is fixed for the study and stated: accuracy 0 and the
    largest value of the cost among feasible complete trials.
    """
    objectives = list(study.user_attrs.get("objectives", []))
    cost = next((o for o in objectives if o != "accuracy"), None)
    if cost is None or "accuracy" not in objectives:
        return None
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if cost in t.user_attrs and "accuracy" in t.user_attrs]
    if not done:
        return None
    ref = (0.0, max(float(t.user_attrs[cost]) for t in done))
    seen: list[tuple[float, float]] = []
    numbers, hvs = [], []
    for t in sorted(done, key=lambda t: t.number):
        seen.append((1.0 - t.user_attrs["accuracy"], float(t.user_attrs[cost])))
        numbers.append(t.number)
        hvs.append(hypervolume_2d(seen, (1.0 - ref[0], ref[1])))
    return HypervolumeData(numbers, hvs, ref, cost)


def timeline_data(study: optuna.Study) -> list[TimelineRow]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.datetime_start is None:
            continue
        seconds = t.duration.total_seconds() if t.duration else 0.0
        state = "infeasible" if t.user_attrs.get("infeasible") else t.state.name.lower()
        if t.user_attrs.get("duplicate_of") is not None:
            state = "duplicate"
        rows.append(TimelineRow(t.number, t.datetime_start.isoformat(), seconds, state))
    return rows


def importance_data(study: optuna.Study) -> list[Importance]:
    """Hyper-parameter importance per objective, with Optuna's PED-ANOVA evaluator.

    PED-ANOVA needs no extra package and handles conditional parameters (a
    module's hyper-parameters exist only in trials that chose it).
    """
    objectives = list(study.user_attrs.get("objectives", []))
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.user_attrs.get("duplicate_of") is None]
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
