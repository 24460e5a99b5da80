"""The record of one trial and the study's own attributes: the only spelling of each key.

Optuna keeps what attnas learns about a trial in ``trial.user_attrs``, a dict of
JSON values keyed by strings. This module is the one place those strings are
written: the field names of ``TrialRecord`` (and of ``StudyRecord`` for the
study's attributes) *are* the keys. Code writes through ``write_trial`` /
``trial_attrs`` (unknown names raise ``TypeError``, so a typo fails at once
instead of writing a key nobody reads) and reads through ``TrialRecord.of``, a
frozen, typed view with the predicates every package asks (``is_original``,
``is_reference``, ``is_infeasible``, ``is_duplicate``).

Studies written before a field existed read it as its default (``None``,
``False`` or empty); keys this version does not know are ignored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from spaces import Pretrained, SpaceConfig, read_back
from studies.stored import FidelityRecord, LatencyRecord, StageSummary

REFERENCE_LABEL = "no attention"  # the reference every verdict is paired with

_COPIED = {"copied": True}  # a duplicate trial copies these from the trial it points to


@dataclass(frozen=True)
class TrialRecord:
    """What one trial chose, measured and trained, and its bookkeeping.

    ``number``, ``state`` and ``values`` come from Optuna; every other field is
    one ``user_attrs`` key of the same name.
    """

    number: int
    state: TrialState
    values: tuple[float, ...] | None
    # what it chose
    arch: Mapping[str, Any] | None = None  # models.Architecture.to_dict()
    arch_short: str | None = None
    arch_key: str | None = None
    signature: str | None = None  # the built model's structure (models.model_signature)
    reference: str | None = None  # a labelled baseline, e.g. REFERENCE_LABEL
    grid: bool = False  # enqueued by search.grid rather than sampled
    # multi-fidelity (search.rungs): the rung this trial trained at (None: single-fidelity),
    # and the trial one rung below whose result earned this training
    rung: int | None = None
    promoted_from: int | None = None
    # where promoted_from ranked (0 = best; None for the reference, promoted by rule) among the
    # architectures its rung had seen then
    promoted_rank: int | None = None
    promoted_among: int | None = None
    # measured before training (cheap, also for infeasible candidates)
    params: int | None = field(default=None, metadata=_COPIED)
    flops: int | None = field(default=None, metadata=_COPIED)  # at the training input size
    latency_flops: int | None = field(default=None, metadata=_COPIED)  # at latency.input_size
    latency_ms: float | None = field(default=None, metadata=_COPIED)
    latency_ratio: float | None = field(default=None, metadata=_COPIED)
    latency: Mapping[str, Any] | None = field(default=None, metadata=_COPIED)  # runners.measure.Latency
    # the latency on the device of the space's latency.profile (runners.profile), predicted
    # from its per-stage table; equal to latency_ms/_ratio when latency.backend is profile
    predicted_latency_ms: float | None = field(default=None, metadata=_COPIED)
    predicted_latency_ratio: float | None = field(default=None, metadata=_COPIED)
    peak_memory: int | None = field(default=None, metadata=_COPIED)
    onnx_max_abs_diff: float | None = None
    constraint_violations: Mapping[str, float] = field(default_factory=dict, metadata=_COPIED)
    infeasible: bool = field(default=False, metadata=_COPIED)
    # trained (the search's seeds; confirmation trainings are study attributes, studies.claims)
    accuracy: float | None = field(default=None, metadata=_COPIED)  # mean over accuracy_seeds
    accuracy_seeds: Mapping[str, float] | None = field(default=None, metadata=_COPIED)
    val_loss: float | None = field(default=None, metadata=_COPIED)
    train_seconds: float | None = field(default=None, metadata=_COPIED)
    images_per_second: float | None = field(default=None, metadata=_COPIED)
    # how the training step ran (runners.trainer): "eager", "cuda_graph" or "compiled", and
    # why a CUDA graph was asked for but not used
    step_path: str | None = field(default=None, metadata=_COPIED)
    graph_fallback: str | None = field(default=None, metadata=_COPIED)
    # bookkeeping
    duplicate_of: int | None = None  # reused that trial's result instead of training
    surplus: bool = False  # started after other workers took the last of n_trials
    worker: int | None = None  # pid of the process that ran it
    retry_of: int | None = None  # re-queued after that trial's worker died
    fail_reason: str | None = None
    duration_s: float | None = None  # not an attribute: Optuna's start-to-finish time
    completed_at: float | None = None  # not an attribute: when it finished (POSIX seconds)

    @classmethod
    def of(cls, t: FrozenTrial) -> TrialRecord:
        ua = t.user_attrs
        return cls(number=t.number, state=t.state, values=tuple(t.values) if t.values else None,
                   duration_s=t.duration.total_seconds() if t.duration else None,
                   completed_at=t.datetime_complete.timestamp() if t.datetime_complete else None,
                   **{k: ua[k] for k in ATTRS if k in ua and ua[k] is not None})

    @property
    def at_rung(self) -> int:
        """The rung it trained at; 0 for a single-fidelity trial (its one budget)."""
        return self.rung or 0

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_of is not None

    @property
    def stages(self) -> tuple[StageSummary, ...]:
        """The architecture's stages, typed (none when no architecture was recorded)."""
        return tuple(StageSummary(s["attention"], s.get("conv", "standard"))
                     for s in (self.arch or {}).get("stages", ()))

    @property
    def num_classes(self) -> int | None:
        """The classes the architecture's head has; None when no architecture was recorded."""
        n = (self.arch or {}).get("num_classes")
        return None if n is None else int(n)

    @property
    def latency_record(self) -> LatencyRecord:
        """``latency`` typed (an empty record when none was stored)."""
        return LatencyRecord.of(self.latency)

    @property
    def is_infeasible(self) -> bool:
        """Broke a hard constraint: measured, not trained."""
        return self.infeasible

    @property
    def is_reference(self) -> bool:
        """The no-attention reference (not any labelled baseline)."""
        return self.reference == REFERENCE_LABEL

    @property
    def is_distinct(self) -> bool:
        """One of the study's evaluations: not a duplicate and not a surplus trial."""
        return not self.is_duplicate and not self.surplus

    @property
    def is_finished(self) -> bool:
        """A distinct evaluation that finished: trained (COMPLETE) or infeasible (PRUNED)."""
        return self.is_distinct and self.state in (TrialState.COMPLETE, TrialState.PRUNED)

    @property
    def is_original(self) -> bool:
        """A distinct, complete, trained trial: the ones the front and the claims are made of."""
        return (self.state == TrialState.COMPLETE and self.is_distinct and self.arch_key is not None
                and self.accuracy is not None)

    @property
    def is_trained(self) -> bool:
        """Trained here (not copied from a duplicate), with a duration: what a training costs."""
        return self.is_original and self.duration_s is not None

    @property
    def seeds(self) -> int:
        """Trainings behind ``accuracy`` (1 in studies before ``search.seeds``)."""
        return max(1, len(self.accuracy_seeds or {}))

    def seed_accuracies(self, default_seed: int) -> dict[int, float]:
        """The search's own trainings, seed -> accuracy (``default_seed`` in studies before seeds)."""
        if self.accuracy_seeds:
            return {int(s): float(a) for s, a in self.accuracy_seeds.items()}
        return {} if self.accuracy is None else {default_seed: float(self.accuracy)}

    def copied_attrs(self) -> dict[str, Any]:
        """The results a duplicate of this trial records as its own (those it has)."""
        return {k: getattr(self, k) for k in COPIED_ATTRS if getattr(self, k) not in (None, False, {})}


_NOT_ATTRS = {"number", "state", "values", "duration_s", "completed_at"}
ATTRS: tuple[str, ...] = tuple(f.name for f in fields(TrialRecord) if f.name not in _NOT_ATTRS)
COPIED_ATTRS: tuple[str, ...] = tuple(f.name for f in fields(TrialRecord) if f.metadata.get("copied"))


def trial_attrs(**attrs: Any) -> dict[str, Any]:
    """``attrs`` as trial user attributes (for ``study.enqueue_trial``), names checked.

    Raises:
        TypeError: a name that is not a ``TrialRecord`` attribute.
    """
    unknown = sorted(set(attrs) - set(ATTRS))
    if unknown:
        raise TypeError(f"not trial record attributes: {', '.join(unknown)}; allowed: {', '.join(ATTRS)}")
    return attrs


def write_trial(trial: optuna.Trial, **attrs: Any) -> None:
    """Record ``attrs`` on a running trial (names checked as in ``trial_attrs``)."""
    for k, v in trial_attrs(**attrs).items():
        trial.set_user_attr(k, v)


# Three fields read over every trial of a study in the sampler's and the scheduler's loops, where
# building a whole TrialRecord per trial per call would cost: read here, where the keys are.

def trial_rung(trial: FrozenTrial | optuna.Trial) -> int:
    """``TrialRecord.rung`` of a trial, 0 where it has none (single-fidelity)."""
    return int(trial.user_attrs.get("rung") or 0)


def trial_promoted_from(trial: FrozenTrial | optuna.Trial) -> int | None:
    """``TrialRecord.promoted_from`` of a trial (None: not a promotion)."""
    source = trial.user_attrs.get("promoted_from")
    return None if source is None else int(source)


def trial_is_duplicate(trial: FrozenTrial | optuna.Trial) -> bool:
    """``TrialRecord.is_duplicate`` of a trial."""
    return trial.user_attrs.get("duplicate_of") is not None


def records(study: optuna.Study, states: tuple[TrialState, ...] | None = None) -> list[TrialRecord]:
    """Every trial of ``study`` (optionally only in ``states``) as a record, by number."""
    return [TrialRecord.of(t) for t in study.get_trials(deepcopy=False, states=states)]


@dataclass(frozen=True)
class StudyRecord:
    """The study's own attributes, written once when the study is created (or after a run)."""

    space: Mapping[str, Any] = field(default_factory=dict)  # spaces.SpaceConfig as JSON: read .config
    space_path: str | None = None
    space_sha256: str | None = None  # written last: joining workers wait for it
    objectives: tuple[str, ...] = ()
    stage_names: tuple[str, ...] = ()
    device: str | None = None
    data_sizes: tuple[int, ...] = ()  # (training images, validation images)
    latency_scale_ms: float | None = None  # ms per unit of latency_ratio (studies.claims)
    fidelity: Mapping[str, Any] | None = None  # search.fidelity's result
    # where predicted latencies come from: runners.profile.Profile.summary()
    latency_profile: Mapping[str, Any] | None = None
    # the trained weights the backbone starts from: spaces.Pretrained.to_dict() (path, sha256)
    weights: Mapping[str, str] | None = None

    @property
    def pretrained(self) -> Pretrained | None:
        """``weights`` typed: the weights the study's backbone started from; None for random
        initialisation."""
        if not self.weights:
            return None
        return Pretrained(self.weights["path"], self.weights["sha256"], self.weights.get("source", ""))

    @property
    def fidelity_record(self) -> FidelityRecord | None:
        """``fidelity`` typed; None before ``search.fidelity`` has run."""
        return FidelityRecord.of(self.fidelity) if self.fidelity else None

    @property
    def config(self) -> SpaceConfig | None:
        """The stored space validated again (``spaces.SpaceConfig``: every default from the
        schema); None for a study that stored none. As for trials, keys this version does not
        know are ignored (a study from another version still reads).

        Raises:
            SpaceError: a stored value this version's schema does not accept.
        """
        if not self.space:
            return None
        return read_back(SpaceConfig, self.space, what="the study's stored space")

    @classmethod
    def of(cls, study: optuna.Study) -> StudyRecord:
        ua = study.user_attrs
        out = {k: ua[k] for k in STUDY_ATTRS if k in ua and ua[k] is not None}
        for k in ("objectives", "stage_names", "data_sizes"):
            if k in out:
                out[k] = tuple(out[k])
        return cls(**out)


STUDY_ATTRS: tuple[str, ...] = tuple(f.name for f in fields(StudyRecord))


def write_study(study: optuna.Study, **attrs: Any) -> None:
    """Record ``attrs`` as study attributes, names checked against ``StudyRecord``.

    Raises:
        TypeError: a name that is not a ``StudyRecord`` attribute.
    """
    unknown = sorted(set(attrs) - set(STUDY_ATTRS))
    if unknown:
        raise TypeError(f"not study record attributes: {', '.join(unknown)}; "
                        f"allowed: {', '.join(STUDY_ATTRS)}")
    for k, v in attrs.items():
        study.set_user_attr(k, list(v) if isinstance(v, tuple) else v)


# Confirmation trainings (search.confirm) are study attributes, one per architecture and seed,
# so that they survive a crash, are shared by every worker and are never repeated.
CONFIRM_PREFIX = "confirm:"


@dataclass(frozen=True)
class Confirmation:
    """One confirmation training of an architecture with one seed."""

    arch_key: str
    trial: int  # the trial whose architecture it is
    seed: int
    accuracy: float
    val_loss: float
    train_seconds: float

    @property
    def key(self) -> str:
        """Its study attribute (short: RDB storages limit key length)."""
        return f"{CONFIRM_PREFIX}{hashlib.sha1(self.arch_key.encode()).hexdigest()[:16]}:{self.seed}"


def write_confirmation(study: optuna.Study, c: Confirmation) -> None:
    study.set_user_attr(c.key, {f.name: getattr(c, f.name) for f in fields(Confirmation)})


def confirmations(study: optuna.Study) -> dict[str, dict[int, float]]:
    """``arch_key -> seed -> accuracy`` of the confirmation trainings stored in the study."""
    out: dict[str, dict[int, float]] = {}
    for key, value in study.user_attrs.items():
        if key.startswith(CONFIRM_PREFIX) and isinstance(value, dict):
            out.setdefault(value["arch_key"], {})[int(value["seed"])] = float(value["accuracy"])
    return out
