"""``dpone ops reconcile`` against a real Postgres: 1M rows each way with DuckDB, repair, no secret in artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.integration.postgres.conftest import REPO, PgDatabase

pytestmark = pytest.mark.integration
ROWS = 1_000_000
CLI = [sys.executable, "-m", "dpone_core.cli.main", "ops", "reconcile"]
COLUMNS = "id bigint PRIMARY KEY, amount numeric(12, 2), name text, ts timestamptz, flag boolean"


def _reconcile(manifest: Path, *args: str, expect: int) -> dict[str, Any]:
    proc = subprocess.run(
        [*CLI, "--manifest", str(manifest), "-s", "orders", *args, "--format", "json"],
        capture_output=True, text=True, timeout=300, cwd=REPO, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def _pg_table(pg: PgDatabase) -> None:
    pg.sql("CREATE SCHEMA s")
    pg.sql(f"CREATE TABLE s.orders ({COLUMNS})")
    pg.sql(
        "INSERT INTO s.orders SELECT i, (i %% 1000) / 4.0, 'n' || i, "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', i %% 2 = 0 FROM generate_series(1, %s) i",
        (ROWS,),
    )
    pg.sql("ANALYZE s.orders")


def _duck_table(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA s")
        con.execute(
            "CREATE TABLE s.orders (id BIGINT PRIMARY KEY, amount DECIMAL(12, 2), name VARCHAR, "
            "ts TIMESTAMPTZ, flag BOOLEAN)"
        )
        con.execute(
            "INSERT INTO s.orders SELECT i, (i % 1000) / 4, 'n' || i, "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL 1 SECOND, i % 2 = 0 FROM range(1, $n + 1) t(i)",
            {"n": ROWS},
        )


def _manifest(pg: PgDatabase, source: str, sink: str, duck: Path) -> Path:
    process = {
        "name": "orders",
        "source": {"connection": source, "table": "s.orders"},
        "sink": {"connection": sink, "table": "s.orders", "strategy": "merge", "primary_key": ["id"]},
    }
    return pg.manifest([process], {"duck": {"type": "duckdb", "path": str(duck)}})


def test_postgres_source_against_duckdb_target_finds_planted_rows(pg: PgDatabase, tmp_path: Path) -> None:
    _pg_table(pg)
    duck = tmp_path / "w.duckdb"
    _duck_table(duck)
    with duckdb.connect(str(duck)) as con:
        con.execute("DELETE FROM s.orders WHERE id = 424242")
        con.execute("INSERT INTO s.orders VALUES (1000001, 0, 'extra', NULL, NULL)")
        con.execute("UPDATE s.orders SET ts = ts + INTERVAL 1 MICROSECOND WHERE id = 999")
    out = tmp_path / "out"
    doc = _reconcile(_manifest(pg, "pg", "duck", duck), "--output-dir", str(out), expect=1)
    assert (doc["missing_count"], doc["extra_count"], doc["mismatch_count"]) == (1, 1, 1), doc
    assert doc["mismatched_columns"] == {"ts": 1} and doc["stats"]["rows_fetched"] < 100_000
    keys = {(a["action"], a["key"]["id"]) for a in doc["repair_actions"]}
    assert keys == {("insert_target_row", "424242"), ("update_target_row", "999")}  # the extra: no --delete-extra
    for path in out.iterdir():
        assert pg.server.password not in path.read_text(encoding="utf-8")


def test_duckdb_source_against_postgres_target_repairs_and_turns_green(pg: PgDatabase, tmp_path: Path) -> None:
    _pg_table(pg)
    duck = tmp_path / "w.duckdb"
    _duck_table(duck)
    pg.sql("DELETE FROM s.orders WHERE id = 5")
    pg.sql("INSERT INTO s.orders VALUES (2000000, 1, 'extra', NULL, NULL)")
    pg.sql("UPDATE s.orders SET name = 'changed', flag = NOT flag WHERE id = 654321")
    manifest = _manifest(pg, "duck", "pg", duck)
    before = _reconcile(manifest, "--delete-extra", expect=1)
    assert (before["missing_count"], before["extra_count"], before["mismatch_count"]) == (1, 1, 1)
    assert before["mismatched_columns"] == {"flag": 1, "name": 1}
    assert before["source_rows"] == before["target_rows"] == ROWS
    out = tmp_path / "out"
    fixed = _reconcile(manifest, "--delete-extra", "--repair", "--yes", "--output-dir", str(out), expect=0)
    assert fixed["passed"] and fixed["source_checksum"] == fixed["target_checksum"]
    assert pg.sql("SELECT name, flag FROM s.orders WHERE id = 654321") == [("n654321", False)]
    assert pg.sql("SELECT count(*) FROM s.orders WHERE id IN (5, 2000000)") == [(1,)]
    assert pg.loads("orders.reconcile_repair") == 2  # the repair's own audit rows; the process's state untouched
    assert pg.state("orders") is None
    for path in out.iterdir():
        assert pg.server.password not in path.read_text(encoding="utf-8")


def test_delete_marker_and_window_in_postgres(pg: PgDatabase, tmp_path: Path) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text, gone boolean)")
    pg.sql("CREATE TABLE dst (id int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT i, 'v' || i, i IN (10, 20) FROM generate_series(1, 50000) i")
    pg.sql("INSERT INTO dst SELECT i, 'v' || i FROM generate_series(1, 50000) i WHERE i <> 20")
    process = {
        "name": "orders",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "merge", "primary_key": ["id"]},
    }
    manifest = pg.manifest([process])
    doc = _reconcile(manifest, "--delete-column", "gone", expect=1)
    assert (doc["delete_count"], doc["extra_count"], doc["missing_count"]) == (2, 1, 0)
    assert [(a["action"], a["key"]["id"]) for a in doc["repair_actions"]] == [("delete_target_row", "10")]
    green = _reconcile(manifest, "--delete-column", "gone", "--where", "id > 10", expect=0)
    assert green["delete_count"] == 1 and green["source_rows"] == 49_989
