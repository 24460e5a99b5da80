"""Study set-up: storage, sampler, creation or resumption, reference trials."""

from __future__ import annotations

import os
import random
import time
import warnings
from pathlib import Path

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from search._sampling import enumerate_params, reference_trials
from spaces import SearchSpace, SpaceError

JOURNAL_PREFIX = "journal:///"


def default_storage(out_dir: Path, *, jobs: int = 1) -> str:
    """``sqlite:///<out>/study.db``; a journal file when several local processes share the study.

    SQLite is not safe for parallel writers, so ``--jobs N`` (N > 1) uses
    Optuna's journal file storage, ``journal:///<out>/study.journal``, and a
    later run in the same folder keeps using it.
    """
    journal = out_dir / "study.journal"
    if jobs > 1 or journal.exists():
        return f"{JOURNAL_PREFIX}{journal.resolve().as_posix().lstrip('/')}"
    return f"sqlite:///{(out_dir / 'study.db').as_posix()}"


def make_storage(url: str) -> optuna.storages.BaseStorage:
    """A storage for ``url``: ``journal:///PATH`` (a journal file), or any SQLAlchemy URL.

    RDB storages send heartbeats: a trial whose worker died is failed after a
    grace period and retried once (``ATTNAS_HEARTBEAT`` / ``ATTNAS_GRACE``
    seconds, default 30 / 120).
    """
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        path = "/" + url[len(JOURNAL_PREFIX):]
        return optuna.storages.JournalStorage(
            JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    from sqlalchemy.exc import DBAPIError

    for attempt in range(6):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5
                warnings.simplefilter("ignore", ExperimentalWarning)
                return RDBStorage(
                    url,
                    heartbeat_interval=int(os.environ.get("ATTNAS_HEARTBEAT", "30")),
                    grace_period=int(os.environ.get("ATTNAS_GRACE", "120")),
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                )
        except DBAPIError:
            # workers started together on an empty database race to create its tables:
            # the losers see a unique violation; the tables exist a moment later
            if attempt == 5:
                raise
            time.sleep(0.2 + random.random() * (attempt + 1))
    raise AssertionError("unreachable")


def make_sampler(space: SearchSpace, *, name: str | None = None,
                 seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The space's sampler (or ``name``), seeded.

    Constraints reach the samplers through ``trial.set_constraint`` (Optuna 5).
    """
    name = name or space.config.search.sampler
    seed = space.config.search.seed if seed is None else seed
    if name == "tpe":
        with warnings.catch_warnings():  # multivariate/group are "experimental" in Optuna 5
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            # conditional hyper-parameters fall outside the GP's joint space: sampled independently
            return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    if name in ("random", "grid"):  # grid: every architecture is enqueued, see enqueue_grid
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; valid: tpe, nsga2, random, grid, gp")


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
                         f"{space.size():,} (limit {GRID_LIMIT:,}); use tpe, nsga2, gp or random")
    if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return 0
    done = {tuple(sorted(t.params.items())) for t in study.get_trials(deepcopy=False)}
    params = [p for p in enumerate_params(space) if tuple(sorted(p.items())) not in done]
    random.Random(seed).shuffle(params)
    for p in params:
        study.enqueue_trial(p, user_attrs={"grid": True})
    return len(params)


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
        while "space_sha256" not in study.user_attrs and time.monotonic() < deadline:
            time.sleep(0.5)
    else:
        study.set_user_attr("space_path", str(space.path))
        study.set_user_attr("space", space.config.model_dump(mode="json"))
        study.set_user_attr("objectives", list(space.config.objectives))
        if baselines:
            for label, params in reference_trials(space)[0]:
                study.enqueue_trial(params, user_attrs={"reference": label})
        study.set_user_attr("space_sha256", space.sha256)  # last: joiners wait for it
    recorded = study.user_attrs.get("space_sha256")
    if recorded != space.sha256:
        raise SpaceError(
            f"study {study_name!r} in {storage} was created from a space file with sha256 "
            f"{str(recorded)[:12]}…, but {space.path} has sha256 {space.sha256[:12]}…; use the "
            f"same space file to resume or join, or another --study-name for a new study"
        )
    return study


def finished_count(study: optuna.Study) -> int:
    """Distinct architectures evaluated: complete or infeasible trials that are not duplicates.

    This is what ``n_trials`` counts: a duplicate costs a fraction of a second
    and adds nothing to the front.
    """
    return sum(1 for t in study.get_trials(deepcopy=False,
                                           states=(TrialState.COMPLETE, TrialState.PRUNED))
               if t.user_attrs.get("duplicate_of") is None and not t.user_attrs.get("surplus"))


def claims_a_slot(study: optuna.Study, number: int, n_trials: int) -> bool:
    """Whether trial ``number`` may run: finished distinct trials plus the running
    trials numbered before it are fewer than ``n_trials``.

    Trial numbers are unique, so several workers sharing one study never both
    take the last slot, and ``n_trials`` is the study's total, not per worker.
    """
    if isinstance(study._storage, RDBStorage) and study._storage.is_heartbeat_enabled():
        optuna.storages.fail_stale_trials(study)  # a dead worker's trial must not hold a slot
    earlier_running = sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                          if t.number < number)
    return finished_count(study) + earlier_running < n_trials
