"""Fixtures for the ClickHouse tests: one server per xdist worker, a fresh Atomic database per test.

The server is :mod:`chshim` (chDB's ClickHouse engine behind the HTTP interface), started in a
temp folder on a free port of 127.0.0.1 and stopped by pid at the end of the session. Set
``DPONE_TEST_CLICKHOUSE_URL`` (``http[s]://user:password@host:port``) to run the same tests
against a real server instead; its password reaches manifests only as an ``${env:...}`` reference.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.integration.postgres.conftest import pg, pg_server  # noqa: F401 - fixtures of the pipeline tests
from tests.integration.postgres.pgserver import free_port
from tests.integration.processes import stop_pid
from tests.integration.s3.conftest import bucket, moto_server  # noqa: F401 - fixtures of the pipeline tests

pytestmark = pytest.mark.integration
URL_ENV = "DPONE_TEST_CLICKHOUSE_URL"
PASSWORD_ENV = "DPONE_TEST_CLICKHOUSE_PASSWORD"
REPO = Path(__file__).resolve().parents[3]


@dataclass
class ClickHouseServer:
    """A reachable ClickHouse HTTP endpoint; ``pid`` and ``folder`` are set for a shim this session started."""

    host: str
    port: int
    user: str = "default"
    password: str = ""
    secure: bool = False
    pid: int | None = None
    folder: Path | None = None
    request_log: Path | None = None
    """A shim's log of the requests it answered, one JSON line each (None for a real server)."""

    @property
    def url(self) -> str:
        """The endpoint without credentials."""
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"

    def client(self, database: str | None = None) -> Any:
        """A clickhouse-connect client (no compression: the shim does not decode it)."""
        import clickhouse_connect

        return clickhouse_connect.get_client(
            host=self.host,
            port=self.port,
            username=self.user,
            password=self.password,
            secure=self.secure,
            database=database or "default",
            compress=False,
            autogenerate_session_id=False,
        )

    def requests(self) -> list[str]:
        """The statements (or ``/ping``) of every request the shim answered so far, in order."""
        if self.request_log is None or not self.request_log.exists():
            return []
        lines = self.request_log.read_text(encoding="utf-8").splitlines()
        return [str(json.loads(line)["sql"]) for line in lines]

    def stop(self) -> None:
        """Stop a started shim by its pid (SIGKILL after 10 s) and remove its folder; a real server is left alone."""
        if self.pid is None:
            return
        stop_pid(self.pid)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_shim(timeout: float = 60) -> ClickHouseServer:
    """Start ``chshim`` on a free port in a temp folder and wait until /ping answers."""
    folder = Path(tempfile.mkdtemp(prefix="dpone-chshim-"))
    port = free_port()
    log_path, requests = folder / "server.log", folder / "requests.jsonl"
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", "tests.integration.clickhouse.chshim", str(port), str(folder / "data")]
        proc = subprocess.Popen(
            [*command, str(requests)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    server = ClickHouseServer("127.0.0.1", port, pid=proc.pid, folder=folder, request_log=requests)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/ping", timeout=1) as answer:
                if answer.read() == b"Ok.\n":
                    return server
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            text = log_path.read_text(errors="replace")[-2000:]
            server.stop()
            raise RuntimeError(f"chshim did not start: {text}")
        time.sleep(0.05)


def server_from_url(url: str) -> ClickHouseServer:
    """The real server ``DPONE_TEST_CLICKHOUSE_URL`` names (``http[s]://user:password@host:port``)."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    return ClickHouseServer(
        host=parts.hostname or "localhost",
        port=parts.port or (8443 if secure else 8123),
        user=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        secure=secure,
    )


@pytest.fixture(scope="session")
def ch_server() -> Iterator[ClickHouseServer]:
    """The ClickHouse server of this worker: a real one from ``DPONE_TEST_CLICKHOUSE_URL``, else a shim."""
    pytest.importorskip("clickhouse_connect")
    url = os.environ.get(URL_ENV)
    if url:
        server = server_from_url(url)
    else:
        pytest.importorskip("chdb")
        server = start_shim()
    os.environ[PASSWORD_ENV] = server.password
    try:
        yield server
    finally:
        server.stop()


@dataclass
class ChDatabase:
    """One fresh database of the test server, with a client bound to it and manifest helpers."""

    server: ClickHouseServer
    database: str
    folder: Path
    client: Any

    def profile(self, **extra: Any) -> dict[str, Any]:
        """A ``clickhouse`` manifest connection for this database (a password only as an env reference)."""
        doc: dict[str, Any] = {
            "type": "clickhouse",
            "host": self.server.host,
            "port": self.server.port,
            "database": self.database,
            "compression": "none",
        }
        if self.server.user != "default":
            doc["user"] = self.server.user
        if self.server.password:
            doc["password"] = "${env:" + PASSWORD_ENV + "}"
        if self.server.secure:
            doc["secure"] = True
        return {**doc, **extra}

    def sql(self, statement: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query in this database and return its rows."""
        return [tuple(row) for row in self.client.query(statement, parameters=params or {}).result_rows]

    def dpone_client(self, *, use_database: bool = False, **extra: Any) -> Any:
        """dpone's own client (``connectors/clickhouse/client.py``) opened from :meth:`profile` (plus ``extra``);
        ``use_database`` as a source opens it (unqualified names in the profile's database)."""
        from dpone_core.connectors.clickhouse.client import open_client
        from dpone_core.connectors.clickhouse.profile import ClickHouseProfile

        profile = ClickHouseProfile.model_validate(self.profile(**extra))
        return open_client(profile, self.folder, use_database=use_database)


@pytest.fixture()
def ch(ch_server: ClickHouseServer, tmp_path: Path) -> Iterator[ChDatabase]:
    """A fresh, empty Atomic database for one test (dropped afterwards)."""
    name = f"t_{secrets.token_hex(6)}"
    admin = ch_server.client()
    admin.command(f"CREATE DATABASE `{name}` ENGINE = Atomic")
    client = ch_server.client(name)
    try:
        yield ChDatabase(ch_server, name, tmp_path, client)
    finally:
        client.close()
        admin.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")
        admin.close()
