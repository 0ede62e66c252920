"""PG -> DuckDB full_refresh over a loaded DuckDB target: DELETE + INSERT from the gated stream in the commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import dpone_core
from tests.integration.postgres.conftest import PgDatabase, run_ok

pytestmark = pytest.mark.integration


def _manifest(pg: PgDatabase, contract: dict[str, Any] | None = None, key: tuple[str, ...] = ("id",)) -> Path:
    process: dict[str, Any] = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src", "batch_rows": 1000},
        "sink": {"connection": "wh", "table": "main.dst", "strategy": "full_refresh", "primary_key": list(key)},
    }
    if contract:
        process["schema_contract"] = contract
    return pg.manifest([process], {"wh": {"type": "duckdb", "path": "wh.duckdb"}})


def _duck(pg: PgDatabase, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(pg.folder / "wh.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_full_refresh_streams_into_the_loaded_target(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 5000) g")
    manifest = _manifest(pg)
    assert run_ok(manifest).result.write_path == "direct"  # the creating load
    pg.sql("DELETE FROM src WHERE id > 3000; UPDATE src SET v = 'new' WHERE id = 1")
    report = run_ok(manifest)
    assert report.result.write_path == "direct"
    assert (report.result.deleted_rows, report.result.inserted_rows) == (5000, 3000)
    assert _duck(pg, "SELECT count(*), min(id), max(id) FROM main.dst") == [(3000, 1, 3000)]
    assert _duck(pg, "SELECT v FROM main.dst WHERE id = 1") == [("new",)]
    assert _duck(pg, "SELECT count(*) FROM __dpone__loads WHERE process = 'p'") == [(2,)]
    assert not list((pg.folder / "wh.duckdb.dpone_staging").glob("*/*"))  # nothing staged as Parquet


def test_a_failed_refresh_keeps_the_old_rows_and_state(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, amount numeric(12,2))")
    pg.sql("INSERT INTO src SELECT g, g FROM generate_series(1, 5000) g")
    amount = {"type": "decimal", "precision": 12, "scale": 2, "min": 0}
    manifest = _manifest(pg, {"enforcement": "strict", "columns": {"amount": amount}})
    run_ok(manifest)
    pg.sql("UPDATE src SET amount = amount + 1; UPDATE src SET amount = -1 WHERE id = 4000")
    report = dpone_core.run(manifest)
    assert not report.passed and report.result.errors[0].code == "DPONE_CONTRACT_VIOLATION"
    assert _duck(pg, "SELECT count(*), sum(amount) FROM main.dst") == [(5000, 5000 * 5001 // 2)]
    assert _duck(pg, "SELECT count(*) FROM __dpone__loads WHERE process = 'p'") == [(1,)]


def test_a_duplicate_key_reads_again_through_staging_where_the_contract_quarantines(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    manifest = _manifest(pg, {"enforcement": "quarantine", "columns": {"id": {"type": "int32", "unique": True}}})
    run_ok(manifest)
    pg.sql("INSERT INTO src VALUES (3, 'c'), (1, 'again')")
    report = run_ok(manifest)
    assert report.result.write_path == "staged"
    assert any("read again through staging" in w for w in report.result.warnings)
    assert (report.result.deleted_rows, report.result.inserted_rows, report.result.quarantined_rows) == (2, 3, 1)
    assert _duck(pg, "SELECT id, v FROM main.dst ORDER BY id") == [(1, "a"), (2, "b"), (3, "c")]


def test_a_target_without_the_key_stays_staged(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    with duckdb.connect(str(pg.folder / "wh.duckdb")) as con:
        con.execute("CREATE TABLE main.dst (id INTEGER, v VARCHAR); INSERT INTO main.dst VALUES (7, 'old')")
    report = run_ok(_manifest(pg))
    assert report.result.write_path == "staged"
    assert (report.result.deleted_rows, report.result.inserted_rows) == (1, 2)
    assert _duck(pg, "SELECT id, v FROM main.dst ORDER BY id") == [(1, "a"), (2, "b")]
    assert run_ok(_manifest(pg, key=())).result.write_path == "direct"  # no key: nothing needs the index
