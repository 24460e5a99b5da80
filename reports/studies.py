"""Where studies live: storage URLs (SQLite, journal files, PostgreSQL, ...) and loading a study by name.

Shared by every command that opens a study (``search.run``, ``search.export``,
``search.fidelity``, ``reports.dashboard``), so they agree on the defaults and
on the message when a study is not there.
"""

from __future__ import annotations

import os
import random
import time
import warnings
from pathlib import Path

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback


class StudyNotFound(LookupError):
    """No study of that name where it was looked for."""


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


def storage_for_existing(study_name: str, storage: str | None) -> str:
    """``storage``, or the default file of ``runs/<study_name>/`` that exists.

    Raises:
        StudyNotFound: no ``--storage`` and neither default file exists.
    """
    if storage:
        return storage
    out = Path("runs") / study_name
    if (out / "study.journal").exists() or (out / "study.db").exists():
        return default_storage(out)
    raise StudyNotFound(f"no study database at {out}/study.db or {out}/study.journal; "
                        f"pass --storage URL")


def load_existing_study(study_name: str, storage: str | None = None) -> optuna.Study:
    """Load study ``study_name`` from ``storage`` (default: its ``runs/`` folder).

    Raises:
        StudyNotFound: no such storage file or no such study in it (the
            message lists the studies that are there).
    """
    url = storage_for_existing(study_name, storage)
    backend = make_storage(url)
    try:
        return optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(backend)]
        raise StudyNotFound(f"no study {study_name!r} in {url}; studies there: "
                            f"{', '.join(names) or 'none'}") from None
