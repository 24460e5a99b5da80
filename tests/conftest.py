"""Shared fixtures: small Fashion-MNIST-format data written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TINY_SPACE, make_fashion_like

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def fashion_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Small learnable data in Fashion-MNIST's format, found through ATTNAS_DATA."""
    folder = make_fashion_like(tmp_path / "fmnist")
    monkeypatch.setenv("ATTNAS_DATA", str(folder))
    from runners import data

    data.clear_cache()
    return folder




@pytest.fixture()
def tiny_space(tmp_path: Path):
    """Factory: write a tiny space file and return its path."""

    def make(name: str = "t", n_trials: int = 4, extra: str = "", confirm: bool | str = False) -> Path:
        """``confirm``: True trains the front and the reference with 3 seeds after the search (a
        real space's default), a string is the space's ``confirm`` block; off by default, so a
        test pays only for the trials it is about."""
        block = confirm if isinstance(confirm, str) else "{seeds: 3}" if confirm else "false"
        path = tmp_path / f"{name}.yaml"
        path.write_text(TINY_SPACE.format(name=name, n_trials=n_trials, extra=extra, confirm=block))
        return path

    return make


@pytest.fixture(scope="session")
def postgres_url():
    """A private PostgreSQL cluster on loopback for the session (Debian's postgresql).

    ``ATTNAS_TEST_POSTGRES`` may point at an existing server instead. Skipped
    when no server binaries are installed -- except under CI, where `.ci/run`
    installs them and their absence is a failure.
    """
    import glob
    import os
    import shutil
    import socket
    import subprocess
    import tempfile

    if os.environ.get("ATTNAS_TEST_POSTGRES"):
        yield os.environ["ATTNAS_TEST_POSTGRES"]
        return
    pytest.importorskip("psycopg")
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdb:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries missing: scripts/get-postgres.sh installs them")
        pytest.skip("PostgreSQL server binaries not installed (scripts/get-postgres.sh)")
    bindir = Path(initdb[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="attnas-pg-"))
    base.chmod(0o755)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]

    def run(*cmd: str) -> None:
        subprocess.run([*as_postgres, *cmd], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w", "-o",
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "attnas")
        yield f"postgresql://postgres@127.0.0.1:{port}/attnas"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
