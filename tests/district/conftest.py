"""District collector fixtures: a real PostgreSQL in a temp dir, stores on both engines."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Postgres:
    """A throw-away PostgreSQL 15 on a free loopback port; ``stop()`` always at the end."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="district-pg-"))
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            self.user = "postgres"
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def _run(self, *args: str) -> None:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "postgres",
                  "--no-sync")
        self.resume()

    def pause(self) -> None:
        """Stop the server, keeping its data (``resume()`` starts it again)."""
        self._run("pg_ctl", "-D", f"{self.dir}/data", "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._run("pg_ctl", "-D", f"{self.dir}/data", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c max_connections=50", "-l", f"{self.dir}/log", "-w", "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", f"{self.dir}/data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        import psycopg

        name = f"d_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 binaries missing (scripts/setup.sh --tests installs them)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg missing (pip install -e '.[test]')")
    pg = Postgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A server of the test's own, for tests that stop and start it."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 binaries missing (scripts/setup.sh --tests installs them)")
    pg = Postgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: Any, tmp_path: Path) -> str:
    """A fresh database on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/district.sqlite"
    return request.getfixturevalue("postgres").new_database()
