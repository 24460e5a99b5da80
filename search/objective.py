"""One trial: sample -> build -> de-duplicate -> measure -> constrain -> train.

Cheap measurements come first: a candidate that breaks a hard constraint is
recorded (state PRUNED, ``TrialRecord.infeasible``) with its
measurements and is never trained. An architecture whose canonical key or
built-model signature matches a finished trial is not trained again: the trial
reuses that result and records ``duplicate_of``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import optuna
import torch
from optuna.trial import TrialState

from models import Architecture, build_model, model_signature
from runners.data import ProxyData
from runners.latency_profile import Profile
from runners.measure import count_flops, count_params, measure_latency
from runners.onnx_runtime import onnxruntime_latency
from runners.profile_models import profile_for
from search.interrupts import raise_if_requested
from search.plan import RunPlan
from search.progress import caused_by_interrupt, release_interrupted
from search.rungs import Promote, Rung, duplicate_promotion, rung_data
from search.sampling import suggest_architecture
from search.study import claims_a_slot, fail_stale_trials, fail_trial
from search.training import TRAINING_FAILURES
from spaces import SearchSpace
from studies import TrialRecord, records, trial_promoted_from, trial_rung, write_trial


def constraint_violations(space: SearchSpace, metrics: dict[str, float]) -> dict[str, float]:
    """One number per bound, named ``<metric>_max``/``<metric>_min``; > 0 when violated.

    Recorded with ``trial.set_constraint`` so that Optuna's samplers and
    ``study.best_trials`` tell feasible trials from infeasible ones.
    """
    out = {}
    for metric, bound in space.config.constraints.items():
        if bound.max is not None:
            out[f"{metric}_max"] = metrics[metric] - bound.max
        if bound.min is not None:
            out[f"{metric}_min"] = bound.min - metrics[metric]
    return out


def _record_constraints(trial: optuna.Trial, violations: dict[str, float]) -> None:
    write_trial(trial, constraint_violations=violations)
    for key, value in violations.items():
        trial.set_constraint(key, value)


class _Infeasible(Exception):
    """Raised inside ``evaluate_architecture`` when a constraint is broken."""


INTERRUPTED = "interrupted (Ctrl-C)"  # the fail reason of a trial a Ctrl-C stopped
TRAINED = ("accuracy", "accuracy_seeds", "val_loss", "train_seconds", "images_per_second",
           "step_path", "graph_fallback")


def train_seeds(arch: Architecture, plan: RunPlan, data: ProxyData, *, rung: Rung | None = None) -> dict:
    """``arch`` trained by ``plan.train`` with each seed of the search (or of ``rung``, on its
    images and budget), on ``plan.device``.

    Returns ``TRAINED``: ``accuracy`` (the mean over seeds), ``accuracy_seeds`` (seed ->
    accuracy, keys as strings), ``val_loss``, ``train_seconds`` and ``images_per_second``
    (summed / averaged over seeds), ``step_path`` and ``graph_fallback`` (the first seed's:
    one architecture, one path).
    """
    seeds = list(rung.seeds) if rung is not None else plan.search_seeds
    if rung is not None:
        data = rung_data(data, rung, seed=plan.space.config.search.seed)
    runs = {str(seed): plan.train(arch, plan.space, data, seed=seed, device=plan.device,
                                  budget=None if rung is None else rung.budget) for seed in seeds}
    n = len(runs)
    return {"accuracy": sum(r["accuracy"] for r in runs.values()) / n,
            "accuracy_seeds": {s: r["accuracy"] for s, r in runs.items()},
            "val_loss": sum(r["val_loss"] for r in runs.values()) / n,
            "train_seconds": sum(r["train_seconds"] for r in runs.values()),
            "images_per_second": sum(r["images_per_second"] for r in runs.values()) / n,
            **{k: next(iter(runs.values()))[k] for k in ("step_path", "graph_fallback")}}


def evaluate_architecture(arch: Architecture, plan: RunPlan, data: ProxyData, *,
                          baseline: torch.nn.Module | None = None,
                          on_measured: Callable[[dict], None] | None = None,
                          model: torch.nn.Module | None = None,
                          profile: Profile | None = None, rung: Rung | None = None) -> dict:
    """Measure ``arch`` (params, FLOPs, latency), check constraints, then train it briefly
    with each of the search's seeds (``train_seeds``; at ``rung``'s budget when given).

    ``on_measured`` sees the cheap measurements before training starts, so a
    caller can record them even when the candidate is infeasible (then
    ``_Infeasible`` is raised and nothing is trained). With ``profile`` (the space's
    ``latency.profile``, checked by ``runners.profile_models.profile_for``) the latency on
    the profiled device is predicted: it replaces the timing when ``latency.backend`` is
    ``profile`` and is recorded beside it otherwise (``predicted_latency_ms``/``_ratio``).

    Returns:
        The measurements plus what ``train_seeds`` returns.
    """
    # ``model``: ``arch`` already built with the search seed (the caller's, for its signature)
    space = plan.space
    model = model if model is not None else build_model(arch, seed=space.config.search.seed)
    cfg = space.config
    lat = cfg.latency
    model.to(torch.device(lat.device))
    size = lat.input_size or data.input_size  # the deployment resolution, when it is another
    shape = (lat.batch_size, data.in_channels, size, size)
    train_shape = (1, data.in_channels, data.input_size, data.input_size)
    measured: dict = {
        "params": count_params(model),
        "flops": count_flops(model, train_shape),  # at the training size
    }
    if size != data.input_size:
        measured["latency_flops"] = count_flops(model, (1, *shape[1:]))
    if profile is not None:
        ratio = profile.predict_ratio(arch.to_dict()["stages"])
        measured |= {"predicted_latency_ratio": ratio,
                     "predicted_latency_ms": ratio * profile.plain_ms}
    if lat.backend == "profile":
        assert profile is not None  # the schema asks for latency.profile
        measured |= {"latency_ms": measured["predicted_latency_ms"], "latency_ratio": ratio,
                     "latency": {"source": "predicted", "median_ms": measured["predicted_latency_ms"],
                                 "ratio": ratio, "baseline_median_ms": profile.plain_ms,
                                 "device": profile.device, "batch_size": lat.batch_size,
                                 "threads": lat.threads, "input_size": size,
                                 "profile_sha256": profile.sha256}}
    else:
        if lat.backend == "onnxruntime":
            latency, onnx_diff = onnxruntime_latency(model, shape, threads=lat.threads,
                                                     repeats=lat.repeats, baseline=baseline)
        else:
            latency, onnx_diff = measure_latency(model, shape, threads=lat.threads,
                                                 repeats=lat.repeats, baseline=baseline), None
        measured |= {"latency_ms": latency.median_ms,
                     "latency": {**latency.to_dict(), "input_size": size, "source": "measured"}}
        if latency.ratio is not None:
            measured["latency_ratio"] = latency.ratio
        if latency.peak_memory is not None:
            measured["peak_memory"] = latency.peak_memory
        if onnx_diff is not None:
            measured["onnx_max_abs_diff"] = onnx_diff
    violations = constraint_violations(space, measured)
    measured["constraint_violations"] = violations
    measured["infeasible"] = any(v > 0 for v in violations.values())
    if on_measured is not None:
        on_measured(measured)
    if measured["infeasible"]:
        raise _Infeasible
    return {**measured, **train_seeds(arch, plan, data, rung=rung)}


def find_duplicate(study: optuna.Study, number: int, key: str, signature: str) -> TrialRecord | None:
    """A finished trial with the same architecture, waiting for one that is running.

    A lower-numbered trial evaluating the same architecture in another
    worker is waited for rather than trained twice; if it fails, or its
    worker dies (its heartbeat stops), this trial trains the architecture
    itself. In a multi-fidelity search only rung 0 counts: promotions of the
    architecture hold other rungs' results.
    """
    def same(r: TrialRecord) -> bool:
        return (r.is_distinct and not r.rung
                and (r.arch_key == key or r.signature == signature))

    while True:
        for r in records(study, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            if same(r) and (r.state == TrialState.COMPLETE or r.is_infeasible):
                return r
        fail_stale_trials(study)  # a dead worker's trial would be waited for forever
        if not any(same(r) and r.number < number
                   for r in records(study, states=(TrialState.RUNNING,))):
            return None
        time.sleep(0.5)


class Objective:
    """The study's objective over the plan's space, on a fixed proxy dataset."""

    def __init__(self, plan: RunPlan, data: ProxyData) -> None:
        self.plan = plan
        self.n_trials = plan.n_trials
        space = self.space = plan.space
        # raises runners.profile.ProfileError for a profile made for another search
        self.profile = profile_for(space, in_channels=data.in_channels, num_classes=data.num_classes)
        self.data = data
        self.seed = space.config.search.seed
        self._baseline: torch.nn.Module | None = None
        # multi-fidelity: the rungs, and the callback that promotes between them
        self.rungs = plan.rungs
        fid = space.config.fidelity
        self.promote = Promote(self.rungs, fid.eta) if self.rungs and fid else None

    def _baseline_for(self, arch: Architecture) -> torch.nn.Module | None:
        """The no-attention backbone, built once, when latency_ratio is needed."""
        if self._baseline is None and self.plan.needs_baseline:
            self._baseline = build_model(arch.without_attention(), seed=self.seed)
        return self._baseline

    def _objective_values(self, attrs: dict) -> tuple[float, ...]:
        return tuple(float(attrs[m]) for m in self.space.config.objectives)

    @staticmethod
    def _record_measured(trial: optuna.Trial, measured: dict) -> None:
        write_trial(trial, **{k: v for k, v in measured.items()
                               if k != "constraint_violations" and (k != "infeasible" or v)})
        _record_constraints(trial, measured["constraint_violations"])

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
        """One trial's objective values. Interrupted (Ctrl-C), the trial records why before
        Optuna fails it."""
        try:
            raise_if_requested()  # a Ctrl-C whose KeyboardInterrupt a finalizer swallowed
            return self._evaluate(trial)
        except KeyboardInterrupt:
            pass
        release_interrupted()  # outside the except block: an interrupted statement's lock goes
        write_trial(trial, fail_reason=INTERRUPTED)
        raise KeyboardInterrupt

    def _evaluate(self, trial: optuna.Trial) -> tuple[float, ...]:
        write_trial(trial, worker=os.getpid())
        rung = trial_rung(trial) if self.rungs else 0
        if rung:  # a promotion that search.rungs.Promote enqueued
            return self._promotion(trial, rung)
        if self.n_trials is not None and not claims_a_slot(trial.study, trial.number, self.n_trials):
            # another worker holds the last slots of n_trials: give this one back and stop
            write_trial(trial, surplus=True)
            trial.study.stop()
            raise optuna.TrialPruned("surplus: the study's n_trials are taken by other workers")
        arch = suggest_architecture(trial, self.space, in_channels=self.data.in_channels,
                                    input_size=self.data.input_size,
                                    num_classes=self.data.num_classes)
        model = build_model(arch, seed=self.seed)
        signature = model_signature(model)
        write_trial(trial, arch=arch.to_dict(), arch_short=arch.short(), arch_key=arch.key(),
                    signature=signature, **({"rung": 0} if self.rungs else {}))

        dup = find_duplicate(trial.study, trial.number, arch.key(), signature)
        if dup is not None:
            write_trial(trial, duplicate_of=dup.number, **dup.copied_attrs())
            _record_constraints(trial, dict(dup.constraint_violations))
            if dup.state == TrialState.PRUNED:
                raise optuna.TrialPruned(f"duplicate of infeasible trial {dup.number}")
            return tuple(dup.values or ())

        try:
            attrs = evaluate_architecture(arch, self.plan, self.data, model=model,
                                          baseline=self._baseline_for(arch), profile=self.profile,
                                          rung=self.rungs[0] if self.rungs else None,
                                          on_measured=lambda m: self._record_measured(trial, m))
        except _Infeasible:
            raise optuna.TrialPruned("violates a constraint; not trained") from None
        except TRAINING_FAILURES as e:
            _record_failure(trial, e)
            raise
        write_trial(trial, **{k: attrs[k] for k in TRAINED})
        return self._objective_values(attrs)

    def _promotion(self, trial: optuna.Trial, rung: int) -> tuple[float, ...]:
        """Train the architecture of trial ``promoted_from`` at ``rung``; its measurements are
        the source's (they do not depend on the rung)."""
        assert self.rungs is not None
        source = trial_promoted_from(trial)
        assert source is not None  # a promotion records its source when it is enqueued
        # the source's parameters, fixed by the enqueue: recorded as this trial's own
        arch = suggest_architecture(trial, self.space, in_channels=self.data.in_channels,
                                    input_size=self.data.input_size,
                                    num_classes=self.data.num_classes)
        write_trial(trial, arch=arch.to_dict(), arch_short=arch.short(), arch_key=arch.key())
        earlier = duplicate_promotion(trial.study, trial.number, source, rung)
        if earlier is not None:  # two workers enqueued it at once: the first one trains it
            write_trial(trial, duplicate_of=earlier)
            raise optuna.TrialPruned(f"trial {earlier} promotes trial {source} to rung {rung}")
        src = next(r for r in records(trial.study) if r.number == source)
        write_trial(trial, signature=src.signature,
                    **{k: getattr(src, k) for k in MEASURED if getattr(src, k) is not None})
        _record_constraints(trial, dict(src.constraint_violations))
        try:
            attrs = train_seeds(arch, self.plan, self.data, rung=self.rungs[rung])
        except TRAINING_FAILURES as e:
            _record_failure(trial, e)
            raise
        write_trial(trial, **attrs)
        return tuple(float(attrs[m]) if m in attrs else float(getattr(src, m))
                     for m in self.space.config.objectives)


# what a promotion copies from the trial it was promoted from: measured once, at rung 0
MEASURED = ("params", "flops", "latency_flops", "latency_ms", "latency_ratio", "latency",
            "predicted_latency_ms", "predicted_latency_ratio", "peak_memory", "onnx_max_abs_diff")


def _record_failure(trial: optuna.Trial, e: BaseException) -> None:
    if isinstance(e, torch.OutOfMemoryError):
        write_trial(trial, fail_reason=f"out of memory: {str(e).splitlines()[0]}")
    else:
        write_trial(trial, fail_reason=str(e))


def run_trials(study: optuna.Study, objective: Objective, *, stop: Callable, timeout: float | None,
               shared: bool = True) -> None:
    """Run trials until ``stop`` stops the study (or ``timeout``): the loop of every worker.

    A diverged, out-of-memory or crashed training fails its trial; the study goes on. On Ctrl-C the
    trial this process was running is failed (reason "interrupted") before KeyboardInterrupt
    goes on, also when Ctrl-C landed before the objective started (while Optuna starts a
    trial's heartbeat). With ``shared=False`` (the study is this process's alone) that includes
    a trial with no worker recorded yet; otherwise only trials that name this process.
    """
    # running elsewhere already: not ours to fail (a queued trial may become ours)
    before = {t.number for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING}
    # a multi-fidelity search promotes after each trial, before the stop rule looks (and once
    # now: a resumed search may have promotions to make before any new architecture)
    callbacks = [objective.promote, stop] if objective.promote is not None else [stop]
    if objective.promote is not None:
        objective.promote(study)
    try:
        study.optimize(objective, n_trials=None, timeout=timeout, callbacks=callbacks,
                       catch=TRAINING_FAILURES)
        return
    except KeyboardInterrupt:
        pass
    except Exception as e:
        # Optuna 5.1's _run_trial: a Ctrl-C inside its tell leaves ``updated_state`` unbound
        # (or fails an assertion) in a ``finally``, and that error replaces the interrupt
        if not caused_by_interrupt(e):
            raise
    release_interrupted()  # outside the except block: the interrupted frames can be freed
    _fail_interrupted(study, before, shared=shared)
    raise KeyboardInterrupt


def _fail_interrupted(study: optuna.Study, before: set[int], *, shared: bool) -> None:
    pid = os.getpid()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = TrialRecord.of(t).worker
        if t.number in before or not (worker == pid or (worker is None and not shared)):
            continue
        try:
            fail_trial(study, t, INTERRUPTED)
        except (ValueError, RuntimeError):  # finished meanwhile (e.g. failed as stale elsewhere)
            continue
