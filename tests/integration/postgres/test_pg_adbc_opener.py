"""The ADBC session a load opens on a background thread (ready, owned once, errors on the caller's thread),
and ``dpone doctor`` opening it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from dpone_core.connectors.postgres.connection import AdbcOpener
from dpone_core.errors import DponeConnectionError
from tests.integration.postgres.conftest import PASSWORD_ENV, PgDatabase
from tests.integration.postgres.pgserver import free_port


def _params(pg: PgDatabase, **override: str) -> dict[str, str]:
    params = {
        "host": pg.server.host,
        "port": str(pg.server.port),
        "user": pg.server.user,
        "password": pg.server.password,
        "dbname": pg.name,
        "application_name": "dpone/opener-test",
    }
    return {**params, **override}


def _sessions(pg: PgDatabase) -> int:
    rows = pg.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dpone/opener-test' AND datname = %s",
        (pg.name,),
    )
    return int(rows[0][0])


def test_the_opened_connection_is_handed_over_once_and_runs_queries(pg: PgDatabase) -> None:
    opener = AdbcOpener(_params(pg))
    connection = opener.take()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT current_database(), current_setting('application_name')")
        assert cursor.fetchone() == (pg.name, "dpone/opener-test")
        cursor.close()
        assert opener.take() is None  # handed over: the opener no longer owns it
        opener.close()  # and closing the opener leaves the taken connection alone
        assert _sessions(pg) == 1
    finally:
        connection.close()
    assert [t for t in threading.enumerate() if t.name == "dpone-adbc-connect"] == []


def test_a_connection_nobody_took_is_closed_with_the_opener(pg: PgDatabase) -> None:
    opener = AdbcOpener(_params(pg))
    opener.close()
    assert _sessions(pg) == 0


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"password": "wrong-secret-value"}, "refused the credentials"),
        ({"dbname": "no_such_db"}, "no_such_db"),
    ],
)
def test_a_failed_open_raises_one_line_on_take_without_the_password(
    pg: PgDatabase, override: dict[str, str], expected: str
) -> None:
    opener = AdbcOpener(_params(pg, **override))
    with pytest.raises(DponeConnectionError) as info:
        opener.take()
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert pg.server.password not in message and "wrong-secret-value" not in message


def test_an_unreachable_server_raises_on_take(pg: PgDatabase) -> None:
    opener = AdbcOpener(_params(pg, port=str(free_port()), connect_timeout="2"))
    with pytest.raises(DponeConnectionError) as info:
        opener.take()
    assert "127.0.0.1" in str(info.value)


def test_doctor_opens_both_postgres_sessions_and_reports_a_bad_password(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int)")
    process = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst"},
    }
    manifest = pg.manifest([process])
    command = [sys.executable, "-m", "dpone_core.cli.main", "doctor", "--manifest", str(manifest)]
    ok = subprocess.run(command, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok  postgres" in ok.stdout
    assert "ok  p: sink pg opens (and its COPY session)" in ok.stdout
    assert "ok  p: source pg opens (and its COPY session)" in ok.stdout
    wrong = "not-the-password-42"
    bad = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, PASSWORD_ENV: wrong})
    assert bad.returncode == 1
    assert "BAD p: sink pg:" in bad.stdout and "BAD p: source pg:" in bad.stdout
    assert wrong not in bad.stdout + bad.stderr
