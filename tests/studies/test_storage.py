"""Storage URLs and study names a person typed: one clear line and exit 2, never a traceback."""

from __future__ import annotations

import socket

import pytest

from reports import dashboard
from search import export
from studies.storage import StorageUnavailable, StudyNotFound, load_existing_study, make_storage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.mark.parametrize(("url", "message"), [
    ("bogus:://", r"not a storage URL this attnas can open .*allowed: sqlite:///PATH.db"),
    ("sqlite:////no/such/folder/study.db", r"cannot open the database file .*does its folder exist\?"),
    ("journal:///no/such/folder/study.journal", r"cannot open the journal file"),
    ("mysql://user@localhost/db", r"the database driver 'MySQLdb' is not installed"),
])
def test_unusable_storage_urls(url: str, message: str) -> None:
    with pytest.raises(StorageUnavailable, match=message):
        make_storage(url)


def test_unreachable_server_hides_the_password() -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql://attnas:s3cret@127.0.0.1:{free_port()}/attnas"
    with pytest.raises(StorageUnavailable, match=r"cannot connect .*is the server running") as e:
        make_storage(url)
    assert "s3cret" not in str(e.value)


def test_study_that_does_not_exist_names_the_ones_there(tmp_path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="there", storage=url)
    with pytest.raises(StudyNotFound, match=r"no study 'nope' in .*; studies there: there"):
        load_existing_study("nope", url)


@pytest.mark.parametrize("main", [export.main, dashboard.main], ids=["export", "dashboard"])
def test_commands_that_open_a_study_exit_2_with_one_line(main, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for argv in (["--study", "nope"], ["--study", "nope", "--storage", "bogus:://"],
                 ["--study", "nope", "--storage", f"sqlite:///{tmp_path}/missing/x.db"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err


def test_a_sqlite_writer_waits_for_the_lock_beyond_pysqlites_5_seconds(tmp_path) -> None:
    """The heartbeat thread writes beside the trial loop: on a busy machine one writer may hold
    the lock for seconds, and the other must wait, not fail with "database is locked"."""
    import sqlite3
    import threading
    import time

    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=make_storage(url), study_name="lock")
    holder = sqlite3.connect(tmp_path / "study.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # another writer, busy for 5.5 s
    release = threading.Timer(5.5, lambda: holder.execute("COMMIT"))
    release.start()
    start = time.monotonic()
    study.set_user_attr("written", True)  # waits for the lock
    release.join()
    assert time.monotonic() - start >= 5.0 and study.user_attrs["written"] is True
