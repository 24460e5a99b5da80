"""Multi-objective asynchronous successive halving (MO-ASHA), on Optuna's study and storage.

A space with a ``fidelity`` block trains architectures on rungs of growing budget
(``spaces.RungConfig``: epochs, training images, seeds). Every evaluation is one
Optuna trial with a ``rung`` attribute:

- A new architecture is sampled at rung 0 (latency, FLOPs and parameters are measured
  there, once; constraints reject it before any training).
- When a worker finishes a trial it looks for a promotion, highest rung first (ASHA,
  Li et al. 2020): a trial of rung k whose result ranks in the top ``floor(n_k / eta)``
  of the ``n_k`` architectures rung k has seen, by non-dominated sorting of the study's
  objectives with crowding distance as the tie-break within a front
  (``studies.promotion_order``, NSGA-II's rule; Syne Tune's MOASHA offers it beside
  others). The no-attention reference is always promoted: every verdict is a paired
  comparison with it at the budget the front is reported at.
- A promotion is enqueued as a WAITING trial with the source's parameters and
  ``promoted_from``; the next ``ask`` of whichever worker is free pops it. Optuna's
  storages pop a waiting trial for exactly one worker, so with ``--jobs N`` or
  PostgreSQL workers on several machines a promotion is trained once; two workers
  that enqueue the same promotion at the same moment leave a second trial, which
  sees the first (lower number) and stops without training (``duplicate_of``).
- A promoted architecture is trained again from its initialisation at the new
  rung's budget, not continued: the learning-rate schedule spans a whole training,
  so a continued run is not the run a single-fidelity search at that budget would
  make; restarting keeps each rung's accuracy exactly that run's, comparable across
  architectures and with confirmation. Its earlier rungs stay in the study.
- Samplers see one rung's trials (``RungSampler``), so that they compare results at one
  budget: rung 0 by default, where every architecture has a result; with
  ``learn_from: highest`` (model-based samplers), the highest rung with enough results for
  the sampler's model (BOHB's rule).

A crash loses only the trainings in progress: finished rungs are trials in the
study, and a promotion whose trial failed is enqueued again.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from runners.data import ProxyData, stratified_split
from spaces import BudgetConfig, DatasetConfig, SearchSpace
from studies import (
    TrialRecord,
    promotion_order,
    records,
    study_directions,
    trial_attrs,
    trial_is_duplicate,
    trial_promoted_from,
    trial_rung,
)
from studies.optuna_private import set_trial_attr

_MISSING = object()


@dataclass(frozen=True)
class Rung:
    """One rung: the budget of a training there, the images, and the seeds."""

    index: int
    budget: BudgetConfig
    train_images: int | None  # None: every image of the proxy split
    seeds: tuple[int, ...]

    def describe(self) -> str:
        images = "all" if self.train_images is None else f"{self.train_images:,}"
        return (f"rung {self.index}: {self.budget.epochs:g} epoch(s) on {images} training images, "
                f"{len(self.seeds)} seed(s)")


def rungs_of(space: SearchSpace) -> list[Rung] | None:
    """The space's rungs, cheapest first; None for a single-fidelity space."""
    cfg = space.config
    if cfg.fidelity is None:
        return None
    return [Rung(i, cfg.budget.model_copy(update={"epochs": r.epochs}), r.train_subset,
                 tuple(cfg.search.seed + s for s in range(r.seeds)))
            for i, r in enumerate(cfg.fidelity.rungs)]


def top_cost_ratio(space: SearchSpace) -> dict[int, float] | None:
    """Rung -> the images one training at the top rung trains over one at that rung (epochs x
    training images; seeds apart): how much longer a top-rung training takes. None for a
    single-fidelity space."""
    rungs = rungs_of(space)
    if rungs is None:
        return None
    every = (_split_train_images(space.config.dataset) if any(r.train_images is None for r in rungs)
             else 0)  # "all images" is the proxy split's training part
    cost = [r.budget.epochs * (r.train_images or every) for r in rungs]
    return {r.index: cost[-1] / c if c > 0 else 1.0 for r, c in zip(rungs, cost, strict=True)}


@functools.cache
def _split_train_images(dataset: DatasetConfig) -> int:
    """The proxy split's training images: a folder is counted once, not after every trial (the
    time budget asks for ``top_cost_ratio`` after each one)."""
    return dataset.split_sizes()[0]


_SUBSETS: dict[tuple[int, int, int], ProxyData] = {}


def rung_data(data: ProxyData, rung: Rung, *, seed: int) -> ProxyData:
    """``data`` with its training split cut to the rung's images (stratified, seeded; the same
    subset for every architecture), the validation split and normalisation unchanged."""
    n = rung.train_images
    if n is None or n >= len(data.train_y):
        return data
    key = (id(data), n, seed)
    if key not in _SUBSETS:
        _, keep = stratified_split(data.train_y.cpu(), n / len(data.train_y), seed=seed + 7)
        keep = keep.to(data.train_x.device)
        _SUBSETS[key] = replace(data, train_x=data.train_x[keep].contiguous(),
                                train_y=data.train_y[keep].contiguous())
    return _SUBSETS[key]


def _results(recs: Sequence[TrialRecord], rung: int) -> list[TrialRecord]:
    """The architectures rung ``rung`` has seen: its distinct complete trained trials."""
    return [r for r in recs if r.is_original and r.at_rung == rung]


class Promotion(NamedTuple):
    """A trial to train at the next rung, and why: its place among what its rung had seen."""

    source: TrialRecord
    rank: int | None  # 0 = best by promotion_order; None for the reference (promoted by rule)
    seen: int  # architectures its rung had seen when it was promoted


def next_promotion(study: optuna.Study, rungs: Sequence[Rung], eta: float) -> Promotion | None:
    """The trial to promote now (to its rung + 1), highest rung first; None if there is none.

    A trial is promotable when it ranks in the top ``floor(n / eta)`` of the ``n``
    architectures its rung has seen (the reference: always) and no trial at the next
    rung, waiting, running or complete, promotes it already. As in ASHA, a trial promoted
    early may later fall out of the top: over a whole search a rung can promote more than
    ``n / eta``, never a trial that was outside the top when it was promoted.
    """
    recs = records(study)
    directions = study_directions(study)
    taken = {r.promoted_from for r in recs
             if r.promoted_from is not None and r.state != TrialState.FAIL and not r.is_duplicate}
    for k in reversed(range(len(rungs) - 1)):
        seen = _results(recs, k)
        quota = int(len(seen) // eta)
        # the reference goes up by rule, not on a place in the quota
        others = [r for r in seen if not r.is_reference]
        order = promotion_order([r.values or () for r in others], directions)
        best = [(r, None) for r in seen if r.is_reference]
        best += [(others[i], rank) for rank, i in enumerate(order[:quota])]
        for r, rank in best:
            if r.number not in taken:
                return Promotion(r, rank, len(seen))
    return None


def enqueue_promotion(study: optuna.Study, promotion: Promotion) -> None:
    """Queue the source's architecture for the next rung: a WAITING trial with its parameters,
    recording where it ranked (``promoted_rank`` of ``promoted_among``)."""
    source = promotion.source
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == source.number)
    study.enqueue_trial(frozen.params, user_attrs=trial_attrs(
        rung=source.at_rung + 1, promoted_from=source.number, promoted_rank=promotion.rank,
        promoted_among=promotion.seen,
        **({"reference": source.reference} if source.reference is not None else {})),
        skip_if_exists=False)


def waiting_promotions(study: optuna.Study) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
               if trial_promoted_from(t) is not None)


class Promote:
    """Per-trial callback of every worker: enqueue the next promotion, if there is one and
    none is waiting already (one job per free worker, as ASHA hands them out)."""

    def __init__(self, rungs: Sequence[Rung], eta: float) -> None:
        self.rungs, self.eta = rungs, eta

    def __call__(self, study: optuna.Study, t: FrozenTrial | None = None) -> None:
        if waiting_promotions(study):
            return
        promotion = next_promotion(study, self.rungs, self.eta)
        if promotion is not None:
            enqueue_promotion(study, promotion)

    def pending(self, study: optuna.Study) -> bool:
        """Whether a promotion is waiting, running or could be made now."""
        running = any(trial_promoted_from(t) is not None
                      for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        return running or bool(waiting_promotions(study)) or next_promotion(
            study, self.rungs, self.eta) is not None


def duplicate_promotion(study: optuna.Study, number: int, source: int, rung: int) -> int | None:
    """An earlier trial that promotes ``source`` to ``rung`` too (its number), if any."""
    for r in records(study):
        if (r.number < number and r.promoted_from == source and r.at_rung == rung
                and r.state != TrialState.FAIL and not r.is_duplicate):
            return r.number
    return None


class _RungView(optuna.Study):
    """One rung's trials as a study of their own, the study a sampler sees in a multi-fidelity
    search (``RungSampler``).

    A real Optuna study on an in-memory storage, built through public API only (``add_trials``),
    so that a sampler may read and write it as it would any study (Optuna 5.1's NSGA-II indexes
    the trial list by trial number; a filtered list breaks that). It holds copies of the rung's
    trials in the study's order, renumbered from 0, then a copy of the trial being sampled,
    running. ``stop`` (the grid sampler's, when its grid is used up) is kept for the caller to
    pass on to the real study."""

    def __init__(self, others: list[FrozenTrial], directions: Sequence[Any], current: FrozenTrial) -> None:
        storage = optuna.storages.InMemoryStorage()
        storage.create_new_study(directions=list(directions), study_name="rung-view")
        super().__init__(study_name="rung-view", storage=storage,
                         sampler=optuna.samplers.RandomSampler())
        self.stop_requested = False
        self.add_trials([_copy(t) for t in others] + [_copy(current)])
        self.current_number = len(others)

    def current(self) -> FrozenTrial:
        """The copy of the trial being sampled, as the sampler left it."""
        return self.get_trials(deepcopy=False)[self.current_number]

    def stop(self) -> None:
        self.stop_requested = True


def _copy(t: FrozenTrial) -> FrozenTrial:
    """``t`` as a new trial for another study (public ``create_trial``; its times kept)."""
    copy = optuna.trial.create_trial(
        state=t.state, values=None if t.state == TrialState.FAIL else t.values,
        params=t.params, distributions=t.distributions, user_attrs=t.user_attrs,
        system_attrs=t.system_attrs, intermediate_values=t.intermediate_values)
    if t.state != TrialState.WAITING:
        copy.datetime_start = t.datetime_start
    if t.state.is_finished():
        copy.datetime_complete = t.datetime_complete
    return copy


def learning_rung(study: optuna.Study, enough: int) -> int:
    """The highest rung with at least ``enough`` complete results (duplicates apart); rung 0
    until a higher one has them (BOHB's rule, Falkner et al. 2018)."""
    counts: dict[int, int] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if not trial_is_duplicate(t):
            k = trial_rung(t)
            counts[k] = counts.get(k, 0) + 1
    return max((k for k, n in counts.items() if n >= enough), default=0)


class RungSampler(optuna.samplers.BaseSampler):
    """Wraps the study's sampler so that it learns from one rung's results, where every result
    has the same budget and the sampler compares like with like (``fidelity.learn_from``).

    - ``rung0`` (default): rung 0, the one rung where every architecture has a result.
    - ``highest``: the highest rung with at least ``enough`` results (the sampler's random
      start, so that its model has as many as it needs), rung 0 until then (BOHB's rule).
      Rung 0 ranks what a short training sees; the top rung ranks what the front is
      reported at. Each new trial chooses its rung once, when it starts.

    Promotions carry fixed parameters, so the sampler never proposes them."""

    def __init__(self, inner: optuna.samplers.BaseSampler, *, highest: bool = False,
                 enough: int = 10) -> None:
        self.inner, self.highest, self.enough = inner, highest, enough
        self._rung_of: dict[int, int] = {}  # trial number -> the rung it learns from
        self._cached: tuple[tuple, _RungView] | None = None  # the last view, by what it holds

    def _rung(self, study: optuna.Study, trial: FrozenTrial) -> int:
        rung = self._rung_of.get(trial.number)
        if rung is None:
            rung = learning_rung(study, self.enough) if self.highest else 0
            self._rung_of[trial.number] = rung
        return rung

    def _view_for(self, study: optuna.Study, trial: FrozenTrial) -> _RungView:
        """The rung's view for ``trial``: built again only when the rung's other trials or their
        states changed since the last call for this trial (a trial's sampler calls come in a
        row: before_trial, the relative and the independent samples)."""
        rung = self._rung(study, trial)
        others = [t for t in study.get_trials(deepcopy=False)
                  if t.number != trial.number and t.state != TrialState.WAITING
                  and trial_rung(t) == rung]
        key = (trial.number, rung, tuple((t.number, t.state) for t in others))
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, _RungView(others, study.directions, trial))
        view = self._cached[1]
        view.stop_requested = False
        return view

    def _call(self, method: str, study: optuna.Study, trial: FrozenTrial, *args: Any) -> Any:
        """``inner.<method>(view, view's copy of trial, *args)``; what the sampler wrote to the
        copy's system attributes is written to the real trial, and a ``stop`` passed on."""
        view = self._view_for(study, trial)
        out = getattr(self.inner, method)(view, view.current(), *args)
        for key, value in view.current().system_attrs.items():
            if trial.system_attrs.get(key, _MISSING) != value:
                set_trial_attr(study, trial, key, value, system=True)
        if view.stop_requested:
            study.stop()
        return out

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict:
        return self._call("infer_relative_search_space", study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        return self._call("sample_relative", study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: Any) -> Any:
        return self._call("sample_independent", study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._call("before_trial", study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._call("after_trial", study, trial, state, values)
        self._rung_of.pop(trial.number, None)
        self._cached = None

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
