"""Target columns whose Postgres type has no Arrow mapping (enum, inet, domains over them) keep their type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.postgres.conftest import PgDatabase, run_cli, run_ok

pytestmark = pytest.mark.integration

TARGET = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE DOMAIN host_addr AS inet CHECK (NOT host(VALUE) = '0.0.0.0');
CREATE TABLE dst (id int PRIMARY KEY, m mood, addr inet, name varchar(20), host host_addr);
INSERT INTO dst VALUES (9, 'sad', '10.9.9.9', 'old', '10.0.0.9');
"""
ROWS = [
    (1, "happy", "192.168.0.1", "one", "10.0.0.1"),
    (2, "sad", "10.1.2.0/24", "two", "::1"),
    (3, None, None, None, None),
]
EXPECTED = [
    (1, "happy", "192.168.0.1", "one", "10.0.0.1"),
    (2, "sad", "10.1.2.0/24", "two", "::1"),
    (3, None, None, None, None),
]


def _csv(pg: PgDatabase, rows: list[tuple[Any, ...]]) -> None:
    folder = pg.folder / "inbox"
    folder.mkdir(exist_ok=True)
    lines = ["id,m,addr,name,host"] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    (folder / "rows.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _manifest(pg: PgDatabase, source: str, strategy: str) -> Path:
    if source == "csv":
        spec: dict[str, Any] = {"connection": "inbox", "path": "*.csv", "format": "csv"}
        contract: dict[str, Any] = {"columns": {"id": {"type": "int32"}}}
    else:
        # The source's enum column reads as text; inet has no Arrow type, so a query casts it.
        spec = {"connection": "pg", "query": "SELECT id, m, addr::text AS addr, name, host::text AS host FROM src"}
        contract = {}
    process = {
        "name": "p",
        "source": spec,
        "sink": {"connection": "pg", "table": "public.dst", "strategy": strategy, "primary_key": ["id"]},
        **({"schema_contract": contract} if contract else {}),
    }
    return pg.manifest([process], connections={"inbox": {"type": "files", "root": "inbox"}})


def _rows(pg: PgDatabase) -> list[tuple[Any, ...]]:
    return pg.sql("SELECT id, m::text, abbrev(addr), name, abbrev(host) FROM dst ORDER BY id")


def _prepare(pg: PgDatabase, source: str) -> None:
    pg.sql(TARGET)
    if source == "csv":
        _csv(pg, ROWS)
    else:
        pg.sql("CREATE TABLE src (id int PRIMARY KEY, m mood, addr inet, name varchar(20), host host_addr)")
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(ROWS))
        pg.sql(f"INSERT INTO src VALUES {values}", [v for r in ROWS for v in r])


@pytest.mark.parametrize("source", ["csv", "pg"])
@pytest.mark.parametrize("path", ["direct", "staged"])
def test_full_refresh_into_enum_inet_varchar_and_domain_columns(pg: PgDatabase, source: str, path: str) -> None:
    _prepare(pg, source)
    if path == "staged":
        pg.sql("CREATE TABLE child (id int REFERENCES dst (id))")  # TRUNCATE is not allowed: staged DELETE
    manifest = _manifest(pg, source, "full_refresh")
    report = run_ok(manifest)
    assert (report.result.deleted_rows, report.result.inserted_rows) == (1, 3)
    assert _rows(pg) == EXPECTED
    assert pg.sql(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'dst'::regclass "
        "AND attnum > 0 ORDER BY attnum"
    ) == [("integer",), ("mood",), ("inet",), ("character varying(20)",), ("host_addr",)]
    again = run_ok(manifest)
    assert (again.result.deleted_rows, again.result.inserted_rows) == (3, 3)
    assert _rows(pg) == EXPECTED


@pytest.mark.parametrize("source", ["csv", "pg"])
def test_merge_into_enum_inet_varchar_and_domain_columns(pg: PgDatabase, source: str) -> None:
    _prepare(pg, source)
    manifest = _manifest(pg, source, "merge")
    report = run_ok(manifest)
    assert (report.result.inserted_rows, report.result.updated_rows) == (3, 0)
    assert _rows(pg) == [*EXPECTED, (9, "sad", "10.9.9.9", "old", "10.0.0.9")]
    if source == "csv":
        _csv(pg, [(1, "sad", "192.168.0.2", "one", "10.0.0.1"), *ROWS[1:]])
    else:
        pg.sql("UPDATE src SET m = 'sad', addr = '192.168.0.2' WHERE id = 1")
    again = run_ok(manifest)
    assert (again.result.inserted_rows, again.result.updated_rows) == (0, 1)
    assert _rows(pg)[0] == (1, "sad", "192.168.0.2", "one", "10.0.0.1")
    assert run_ok(manifest).result.updated_rows == 0


@pytest.mark.parametrize("strategy", ["full_refresh", "merge"])
def test_a_value_that_is_not_an_enum_label_fails_in_one_line_and_changes_nothing(pg: PgDatabase, strategy: str) -> None:
    _prepare(pg, "csv")
    manifest = _manifest(pg, "csv", strategy)
    run_ok(manifest)
    before, state = _rows(pg), pg.state("p")
    _csv(pg, [(1, "angry", "192.168.0.1", "one", "10.0.0.1")])
    result = run_cli(manifest, "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["result"]["errors"][0]
    assert error["code"] == "DPONE_TERMINAL"
    assert 'invalid input value for enum mood: "angry"' in error["message"]
    assert "\n" not in error["message"]
    assert _rows(pg) == before and pg.state("p") == state and pg.loads("p") == 1 and pg.staging_tables() == []
