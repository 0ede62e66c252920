"""Fixtures for the Postgres integration tests: one real cluster per xdist worker, a database per test.

The cluster is started by :mod:`pgserver` (initdb into a temp dir as the ``postgres`` OS user when
running as root, a free port on 127.0.0.1) and stopped by pid at the end of the session.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgserver import PostgresServer, start_server

pytestmark = pytest.mark.integration
PASSWORD_ENV = "DPONE_TEST_PG_PASSWORD"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A running Postgres 15 cluster for this worker (stopped and removed at the end)."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:  # pragma: no cover
        pytest.skip("psycopg2 is not installed (install dpone[postgres])")
    server = start_server()
    os.environ[PASSWORD_ENV] = server.password
    try:
        yield server
    finally:
        server.stop()


@dataclass
class PgDatabase:
    """One fresh database of the test cluster, with helpers to run SQL and write manifests."""

    server: PostgresServer
    name: str
    folder: Path

    def connect(self) -> Any:
        """A psycopg2 connection (autocommit)."""
        import psycopg2

        con = psycopg2.connect(
            host=self.server.host,
            port=self.server.port,
            user=self.server.user,
            password=self.server.password,
            dbname=self.name,
        )
        con.autocommit = True
        return con

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run SQL and return the rows (empty for statements without a result)."""
        con = self.connect()
        try:
            with con.cursor() as cur:
                cur.execute(statement, params)
                return list(cur.fetchall()) if cur.description else []
        finally:
            con.close()

    def profile(self, **extra: Any) -> dict[str, Any]:
        """A manifest connection profile for this database (the password is an env reference)."""
        return {
            "type": "postgres",
            "host": self.server.host,
            "port": self.server.port,
            "database": self.name,
            "user": self.server.user,
            "password": "${env:" + PASSWORD_ENV + "}",
            **extra,
        }

    def manifest(
        self, processes: list[dict[str, Any]], connections: dict[str, Any] | None = None, name: str = "manifest.yaml"
    ) -> Path:
        """Write a manifest with a ``pg`` connection (plus ``connections``) and return its path."""
        doc = {
            "version": 1,
            "connections": {"pg": self.profile(), **(connections or {})},
            "processes": processes,
        }
        path = self.folder / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    def state(self, process: str) -> dict[str, Any] | None:
        """The process's row of ``__dpone__state`` as a dict, or None."""
        rows = (
            self.sql(
                "SELECT cursor_column, cursor_value, run_id, load_id FROM public.__dpone__state WHERE process = %s",
                (process,),
            )
            if self.sql("SELECT to_regclass('public.__dpone__state')")[0][0]
            else []
        )
        if not rows:
            return None
        return dict(zip(("cursor_column", "cursor_value", "run_id", "load_id"), rows[0], strict=True))

    def loads(self, process: str) -> int:
        """Number of committed audit rows of ``process``."""
        if not self.sql("SELECT to_regclass('public.__dpone__loads')")[0][0]:
            return 0
        return int(self.sql("SELECT count(*) FROM public.__dpone__loads WHERE process = %s", (process,))[0][0])

    def staging_tables(self) -> list[str]:
        """Tables left in the default staging schema."""
        return [
            r[0]
            for r in self.sql(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = '__dpone_staging' AND c.relkind = 'r' ORDER BY 1"
            )
        ]


@pytest.fixture()
def pg(pg_server: PostgresServer, tmp_path: Path) -> Iterator[PgDatabase]:
    """A fresh, empty database for one test (dropped afterwards)."""
    import psycopg2

    name = f"t_{secrets.token_hex(6)}"
    admin = psycopg2.connect(pg_server.dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PgDatabase(pg_server, name, tmp_path)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def run_cli(
    manifest: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dpone_core.cli.main run MANIFEST ...`` in a subprocess and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "dpone_core.cli.main", "run", str(manifest), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        check=False,
    )


def spawn_cli(manifest: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``dpone run`` in a subprocess without waiting (for kill and concurrency tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "dpone_core.cli.main", "run", str(manifest), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def run_ok(manifest: Path, **kwargs: Any) -> Any:
    """``dpone_core.run`` that must pass; returns the report."""
    import dpone_core

    report = dpone_core.run(manifest, **kwargs)
    assert report.passed, report.to_text()
    return report


def wait_for_pause(marker: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait until a run spawned with ``DPONE_TEST_PAUSE_AT`` reached its pause point (wrote ``marker``)."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"run ended before the pause point: {out} {err}")
        if time.monotonic() > deadline:
            raise AssertionError("pause point not reached")
        time.sleep(0.05)


def direct_allowed(pg: PgDatabase, strategy: str, key: tuple[str, ...] = ("id",)) -> bool:
    """Whether the Postgres sink would load ``strategy`` straight into ``public.dst`` as it is now."""
    from dpone_core.connectors.postgres.profile import PostgresProfile
    from dpone_core.connectors.postgres.sink import PostgresSink
    from dpone_core.model import TableRef

    profile = PostgresProfile.model_validate(pg.profile())
    sink = PostgresSink(profile, pg.folder, TableRef("public", "dst"), "__dpone_staging", None)
    try:
        return sink.direct_load_allowed(strategy, key)
    finally:
        sink.close()
