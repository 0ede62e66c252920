"""ClickHouse with the other systems, through ``dpone_core.run`` with the contract gates on."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

import dpone_core
from tests.integration.clickhouse.conftest import ChDatabase
from tests.integration.postgres.conftest import PgDatabase
from tests.integration.s3.conftest import Bucket

REPO = Path(__file__).resolve().parents[3]
CONTRACT = {
    "enforcement": "quarantine",
    "columns": {
        "id": {"type": "int64", "nullable": False},
        "amount": {"type": "decimal", "precision": 18, "scale": 2, "min": 0},
        "status": {"type": "string", "allowed": ["new", "paid"]},
    },
}


def write(folder: Path, processes: list[dict[str, Any]], connections: dict[str, Any]) -> Path:
    doc = {"version": 1, "defaults": {"quarantine": {"dir": "quarantine"}}, "connections": connections,
           "processes": processes}  # fmt: skip
    path = folder / "m.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def passed(path: Path, process: str | None = None) -> dpone_core.RunReport:
    report = dpone_core.run(path, process)
    assert report.passed, report.to_text()
    return report


def test_postgres_to_clickhouse_merge_with_the_contract_quarantining_a_bad_row(ch: ChDatabase, pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, amount numeric(18,2), status text)")
    pg.sql("INSERT INTO src VALUES (1, 10.50, 'new'), (2, 3.00, 'paid'), (3, -1.00, 'new')")
    process = {"name": "p", "source": {"connection": "pg", "table": "public.src"},
               "sink": {"connection": "ch", "table": "orders", "strategy": "merge", "primary_key": ["id"]},
               "schema_contract": CONTRACT}  # fmt: skip
    m = write(ch.folder, [process], {"pg": pg.profile(), "ch": ch.profile()})
    report = passed(m)
    assert (report.result.inserted_rows, report.result.quarantined_rows) == (2, 1)
    pg.sql("UPDATE src SET status = 'paid' WHERE id = 1")
    pg.sql("INSERT INTO src VALUES (4, 7.25, 'new')")
    again = passed(m)
    assert (again.result.inserted_rows, again.result.updated_rows) == (1, 1)
    rows = ch.sql("SELECT id, amount, status FROM orders ORDER BY id")
    assert rows == [(1, Decimal("10.50"), "paid"), (2, Decimal("3.00"), "paid"), (4, Decimal("7.25"), "new")]


def test_clickhouse_to_postgres_and_to_duckdb_keep_values(ch: ChDatabase, pg: PgDatabase) -> None:
    ch.client.command(
        "CREATE TABLE events (id UInt32, at DateTime64(3, 'Europe/Berlin'), amount Decimal(18, 2), "
        "name LowCardinality(String), note Nullable(String)) ENGINE = MergeTree ORDER BY id"
    )
    ch.client.command(
        "INSERT INTO events VALUES (1, '2026-03-29 03:30:00.123', 12.34, 'ünï', NULL), "
        "(2, '2026-10-25 02:30:00.000', 0.01, 'b', 'x')"
    )
    processes = [
        {"name": "to_pg", "source": {"connection": "ch", "table": "events"},
         "sink": {"connection": "pg", "table": "public.events", "strategy": "full_refresh"}},
        {"name": "to_duckdb", "source": {"connection": "ch", "table": "events"},
         "sink": {"connection": "wh", "table": "events", "strategy": "full_refresh"}},
    ]  # fmt: skip
    m = write(
        ch.folder, processes, {"ch": ch.profile(), "pg": pg.profile(), "wh": {"type": "duckdb", "path": "wh.duckdb"}}
    )
    passed(m, "to_pg")
    passed(m, "to_duckdb")
    pg_rows = pg.sql("SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), amount, name, note "
                     "FROM events ORDER BY id")  # fmt: skip
    assert pg_rows == [
        (1, "2026-03-29 01:30:00.123", Decimal("12.34"), "ünï", None),
        (2, "2026-10-25 00:30:00.000", Decimal("0.01"), "b", "x"),
    ]
    duck = dpone_core.read_target(m, "to_duckdb").sort_by("id").to_pylist()
    assert [(r["id"], r["amount"], r["name"], r["note"]) for r in duck] == [
        (1, Decimal("12.34"), "ünï", None), (2, Decimal("0.01"), "b", "x"),
    ]  # fmt: skip
    assert duck[0]["at"].isoformat().startswith("2026-03-29T")


def test_parquet_files_and_s3_objects_to_clickhouse(ch: ChDatabase, bucket: Bucket) -> None:
    data = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "amount": pa.array([Decimal("1.00"), Decimal("2.50"),
                     Decimal("-3.00")], pa.decimal128(18, 2)), "status": ["new", "paid", "new"]})  # fmt: skip
    (ch.folder / "in").mkdir()
    pq.write_table(data, ch.folder / "in" / "a.parquet")
    import io

    body = io.BytesIO()
    pq.write_table(data, body)
    bucket.put("exports/a.parquet", body.getvalue())
    processes = [
        {"name": "files", "source": {"connection": "inbox", "path": "*.parquet", "format": "parquet"},
         "sink": {"connection": "ch", "table": "from_files", "strategy": "append"}, "schema_contract": CONTRACT},
        {"name": "s3", "source": {"connection": "lake", "path": "exports/*.parquet", "format": "parquet",
                                  "incremental": {"mode": "files"}},
         "sink": {"connection": "ch", "table": "from_s3", "strategy": "append"}, "schema_contract": CONTRACT},
    ]  # fmt: skip
    connections = {"inbox": {"type": "files", "root": "in"}, "lake": bucket.profile(), "ch": ch.profile()}
    m = write(ch.folder, processes, connections)
    for name in ("files", "s3"):
        report = passed(m, name)
        assert (report.result.inserted_rows, report.result.quarantined_rows) == (2, 1)
    assert passed(m, "s3").result.inserted_rows == 0  # the object is loaded once
    for table in ("from_files", "from_s3"):
        assert ch.sql(f"SELECT id, status FROM {table} ORDER BY id") == [(1, "new"), (2, "paid")]


def test_doctor_checks_the_server_version_database_and_grants(ch: ChDatabase) -> None:
    (ch.folder / "in").mkdir()
    (ch.folder / "in" / "d.csv").write_text("id\n1\n", encoding="utf-8")
    process = {"name": "p", "source": {"connection": "inbox", "path": "d.csv", "format": "csv"},
               "sink": {"connection": "ch", "table": "t", "strategy": "append"}}  # fmt: skip
    m = write(ch.folder, [process], {"inbox": {"type": "files", "root": "in"}, "ch": ch.profile()})
    args = [sys.executable, "-m", "dpone_core.cli.main", "doctor", "--manifest", str(m)]
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "server 26." in done.stdout and "grants ok" in done.stdout


def test_the_embedded_chdb_interface_loads_and_reads_back(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "d.csv").write_text("id,v\n1,a\n2,b\n", encoding="utf-8")
    process = {"name": "p", "source": {"connection": "inbox", "path": "d.csv", "format": "csv"},
               "sink": {"connection": "ch", "table": "wh.t", "strategy": "merge", "primary_key": ["id"]}}  # fmt: skip
    m = write(tmp_path, [process], {"inbox": {"type": "files", "root": "in"},
                                     "ch": {"type": "clickhouse", "interface": "chdb", "path": "chdata"}})  # fmt: skip
    # A separate interpreter: chDB binds one data folder per process for its lifetime.
    code = (
        "import sys, dpone_core; r = dpone_core.run(sys.argv[1]); assert r.passed, r.to_text(); "
        "print(sorted(map(tuple, dpone_core.read_target(sys.argv[1], 'p').to_pylist() and "
        "[d.values() for d in dpone_core.read_target(sys.argv[1], 'p').to_pylist()])))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(m)], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[(1, 'a'), (2, 'b')]"
    assert (tmp_path / "chdata").is_dir()
