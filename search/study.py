"""Study set-up: storage, sampler, creation or resumption, reference trials."""

from __future__ import annotations

import random
import time
import warnings

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial, TrialState

from search.rungs import RungSampler
from search.sampling import enumerate_params, reference_trials
from spaces import SAMPLER_TABLE, SearchSpace, SpaceError, learn_from_problem, sampler_info
from studies import StudyRecord, make_storage, records, trial_attrs, trial_rung, write_study
from studies.optuna_private import set_trial_attr


def make_sampler(space: SearchSpace, *, name: str | None = None,
                 seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The space's sampler (or ``name``), seeded; in a multi-fidelity search wrapped so that
    it learns from one rung (``search.rungs.RungSampler``, ``fidelity.learn_from``).

    Constraints reach the samplers through ``trial.set_constraint`` (Optuna 5).

    Raises:
        SpaceError: ``name`` cannot follow the space's ``fidelity.learn_from``.
    """
    sampler = _sampler(space, name=name, seed=seed)
    fidelity = space.config.fidelity
    if fidelity is None:
        return sampler
    if name is not None and (problem := learn_from_problem(space.config, name, "--sampler")):
        raise SpaceError(problem)  # the space's own sampler was checked when it loaded
    return RungSampler(sampler, highest=fidelity.learn_from == "highest",
                       enough=sampler_info(name or space.config.search.sampler).random_start or 10)


def random_start_note(sampler: str, n_trials: int) -> str | None:
    """A line for the user when ``n_trials`` ends before ``sampler`` stops drawing at random
    (``SamplerInfo.random_start``): such a search is a random search under the sampler's name.
    None otherwise."""
    info = sampler_info(sampler)
    start = info.random_start
    if start is None or n_trials > start:
        return None
    what = info.random_start_words
    return (f"note: {sampler} draws its {what} at random ({start} trials, reference trials "
            f"included) and n_trials is {n_trials}: this search is a random search; give it more "
            f"than {start} trials for the sampler's model to take part")


def _sampler(space: SearchSpace, *, name: str | None, seed: int | None) -> optuna.samplers.BaseSampler:
    info = sampler_info(name or space.config.search.sampler)  # ValueError names the valid ones
    seed = space.config.search.seed if seed is None else seed
    with warnings.catch_warnings():  # e.g. TPE's multivariate/group are "experimental" in Optuna 5
        if info.experimental:
            warnings.simplefilter("ignore", ExperimentalWarning)
        return getattr(optuna.samplers, info.optuna_class)(seed=seed, **info.kwargs)


GRID_LIMIT = 20_000


def enqueue_grid(study: optuna.Study, space: SearchSpace, *, seed: int) -> int:
    """Enqueue every architecture of ``space`` once, in a seeded random order.

    Optuna's GridSampler needs one fixed parameter set for all trials; a space
    with conditional hyper-parameters has none, so the grid is enumerated here.
    Does nothing when the study already holds waiting trials (a resumed grid).

    Raises:
        SpaceError: the space is larger than ``GRID_LIMIT``.
    """
    if space.size() > GRID_LIMIT:
        raise SpaceError(f"sampler grid enumerates every architecture, but {space.path} has "
                         f"{space.size():,} (limit {GRID_LIMIT:,}); use "
                         f"{', '.join(s.name for s in SAMPLER_TABLE if not s.enumerates)}")
    if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return 0
    done = {tuple(sorted(t.params.items())) for t in study.get_trials(deepcopy=False)}
    params = [p for p in enumerate_params(space) if tuple(sorted(p.items())) not in done]
    random.Random(seed).shuffle(params)
    for p in params:
        study.enqueue_trial(p, user_attrs=trial_attrs(grid=True))
    return len(params)


def _short(sha: str | None) -> str:
    return f"{sha[:12]}…" if sha else "none"


def open_study(space: SearchSpace, *, storage: str, study_name: str,
               sampler: optuna.samplers.BaseSampler, baselines: bool,
               joiner_sampler: optuna.samplers.BaseSampler | None = None,
               join_timeout: float = 60.0) -> optuna.Study:
    """Create the study, or join/resume it when it exists with the same space file.

    Only the process that creates the study records the space and enqueues
    the reference trials, so workers started together on several machines
    neither race nor enqueue the references twice; a joiner waits (up to
    ``join_timeout`` seconds) for the creator to record the space. A joiner
    uses ``joiner_sampler`` when given: workers on several machines must not
    all propose the same seeded sequence.

    Raises:
        SpaceError: the study exists but was created from a different space file.
    """
    backend = make_storage(storage)
    try:
        study = optuna.create_study(study_name=study_name, storage=backend, sampler=sampler,
                                    directions=space.directions, load_if_exists=False)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=study_name, storage=backend, sampler=sampler)
        if joiner_sampler is not None:
            study.sampler = joiner_sampler
        deadline = time.monotonic() + join_timeout
        while StudyRecord.of(study).space_sha256 is None and time.monotonic() < deadline:
            time.sleep(0.5)
    else:
        write_study(study, space_path=str(space.path), space=space.config.model_dump(mode="json"),
                    objectives=tuple(space.config.objectives),
                    stage_names=tuple(s.name for s in space.stages),
                    weights=space.weights.to_dict() if space.weights is not None else None)
        if baselines:
            for label, params in reference_trials(space)[0]:
                study.enqueue_trial(params, user_attrs=trial_attrs(reference=label))
        write_study(study, space_sha256=space.sha256)  # last: joiners wait for it
    record = StudyRecord.of(study)
    recorded = record.space_sha256
    if recorded not in (space.sha256, space.file_sha256):
        was = record.pretrained
        before = was.sha256 if was is not None else None
        now = space.weights.sha256 if space.weights is not None else None
        if before != now:
            raise SpaceError(
                f"study {study_name!r} in {storage} was searched from backbone weights with sha256 "
                f"{_short(before)} ({was.path if was is not None else 'random initialisation'}), but "
                f"{space.path} now starts from {_short(now)} "
                f"({space.weights.path if space.weights is not None else 'random initialisation'}); "
                f"resume with the same weights file, or give another --study-name for a new study")
        raise SpaceError(
            f"study {study_name!r} in {storage} was created from a space whose settings have sha256 "
            f"{str(recorded)[:12]}…, but {space.path} now says something else (sha256 "
            f"{space.sha256[:12]}…; comments and layout do not count); resume or join with the "
            f"same settings (--n-trials N raises the trial count without editing the file), or "
            f"give another --study-name for a new study"
        )
    return study


def finished_count(study: optuna.Study) -> int:
    """Distinct architectures evaluated: complete or infeasible trials that are not duplicates.

    This is what ``n_trials`` counts: a duplicate costs a fraction of a second
    and adds nothing to the front. In a multi-fidelity search it counts architectures
    (rung 0), not their promotions.
    """
    return sum(1 for r in records(study, states=(TrialState.COMPLETE, TrialState.PRUNED))
               if r.is_finished and not r.rung)


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail the running trials whose worker stopped sending heartbeats (RDB storages with
    heartbeats; Optuna re-queues each once). Elsewhere a no-op."""
    with warnings.catch_warnings():  # "experimental" in Optuna 5
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # checks the storage's heartbeat itself


def fail_trial(study: optuna.Study, t: FrozenTrial, reason: str) -> None:
    """Mark running trial ``t``, abandoned by its process, as FAIL with ``reason`` (the reason
    first: a finished trial's attributes cannot change).

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: it finished meanwhile.
    """
    for k, v in trial_attrs(fail_reason=reason).items():
        set_trial_attr(study, t, k, v)  # no public way to write another process's trial
    study.tell(t.number, state=TrialState.FAIL)


def claims_a_slot(study: optuna.Study, number: int, n_trials: int) -> bool:
    """Whether trial ``number`` may run: finished distinct trials plus the running
    trials numbered before it are fewer than ``n_trials``.

    Trial numbers are unique, so several workers sharing one study never both
    take the last slot, and ``n_trials`` is the study's total, not per worker.
    """
    fail_stale_trials(study)  # a dead worker's trial must not hold a slot
    earlier_running = sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                          if t.number < number and not trial_rung(t))
    return finished_count(study) + earlier_running < n_trials
