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

from errors import UserError


class StudyNotFound(UserError, LookupError):
    """No study of that name where it was looked for."""


class StorageUnavailable(StudyNotFound):
    """A storage URL that cannot be used: malformed, a server that does not answer, a file
    that cannot be opened, or a database driver that is not installed."""


_URL_HELP = ("allowed: sqlite:///PATH.db, journal:///PATH.journal, or an SQLAlchemy URL such as "
             "postgresql://USER:PASSWORD@HOST/DB")


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
        try:
            return optuna.storages.JournalStorage(
                JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
        except OSError as e:
            raise StorageUnavailable(f"--storage {url}: cannot open the journal file: "
                                     f"{e.strerror or e}") from None
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

    try:
        return _rdb_storage(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as e:
        raise StorageUnavailable(f"--storage {url!r}: not a storage URL this attnas can open "
                                 f"({_first_line(e)}); {_URL_HELP}") from None
    except ImportError as e:
        cause = e.__cause__ if isinstance(e.__cause__, ModuleNotFoundError) else e
        driver = getattr(cause, "name", None) or "its driver"
        raise StorageUnavailable(f"--storage {_redacted(url)}: the database driver {driver!r} is not "
                                 f"installed; for PostgreSQL: pip install -e '.[postgres]'") from None
    except (OperationalError, DBAPIError) as e:
        if url.startswith("sqlite:"):
            raise StorageUnavailable(f"--storage {url}: cannot open the database file "
                                     f"({_first_line(e)}); does its folder exist?") from None
        raise StorageUnavailable(f"--storage {_redacted(url)}: cannot connect ({_first_line(e)}); is "
                                 f"the server running and the URL right?") from None


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _redacted(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 -- a message helper must not fail
        return url


SQLITE_LOCK_TIMEOUT_S = 60.0


def _rdb_storage(url: str) -> RDBStorage:
    from sqlalchemy.exc import DBAPIError, OperationalError

    for attempt in range(6):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5
                warnings.simplefilter("ignore", ExperimentalWarning)
                return RDBStorage(
                    url,
                    # SQLite: a writer waits up to a minute for the lock, not pysqlite's 5 s; the
                    # heartbeat thread writes beside the trial loop, and on a busy machine one of
                    # them failed with "database is locked" (the Ctrl-C test, 2 cores, 3 jobs)
                    engine_kwargs={"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT_S}}
                    if url.startswith("sqlite") else None,
                    heartbeat_interval=int(os.environ.get("ATTNAS_HEARTBEAT", "30")),
                    grace_period=int(os.environ.get("ATTNAS_GRACE", "120")),
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                )
        except OperationalError:  # no server, no file: retrying does not help
            raise
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
