"""``dpone ops reconcile`` end to end: JSON rows, DuckDB tables of 1M rows, files, repair, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from dpone_core.reconcile import ArrowSide, ReconcileOptions, SqlSide, reconcile, reconcile_rows
from tests.e2e.conftest import query, run_cli

ROWS = 1_000_000


def _json(*args: str, expect: int) -> dict[str, Any]:
    proc = run_cli("ops", "reconcile", *args, "--format", "json")
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_json_rows_report_counts_deletes_and_actions(tmp_path: Path) -> None:
    source = [
        {"id": 1, "amount": 100},
        {"id": 2, "amount": 200},
        {"id": 3, "amount": 300, "deleted": True},
        {"id": 4, "amount": 400, "deleted": True},
        {"id": 6, "amount": 600},
    ]
    target = [{"id": 1, "amount": 100.0}, {"id": 2, "amount": 250}, {"id": 3, "amount": 300}, {"id": 5, "amount": 5}]
    (tmp_path / "t.json").write_text(json.dumps(target), encoding="utf-8")
    out = tmp_path / "out"
    doc = _json(
        "--source-rows-json", json.dumps(source), "--target-rows-json", f"@{tmp_path / 't.json'}",
        "--key", "id", "--compare-columns", "amount", "--delete-column", "deleted", "--output-dir", str(out),
        expect=1,
    )  # fmt: skip
    counts = {k: doc[k] for k in ("missing_count", "extra_count", "mismatch_count", "delete_count")}
    # 6 missing; 3 deleted but still in the target, 5 not in the source: extra; 4 deleted and gone: fine.
    assert counts == {"missing_count": 1, "extra_count": 2, "mismatch_count": 1, "delete_count": 2}
    actions = {(a["action"], a["key"]["id"], a["reason"]) for a in doc["repair_actions"]}
    assert actions == {
        ("update_target_row", "2", "mismatch"),
        ("delete_target_row", "3", "deleted_in_source"),
        ("insert_target_row", "6", "missing"),
    }
    written = json.loads((out / "reconciliation_report.json").read_text())
    import hashlib

    md_sha = hashlib.sha256((out / "reconciliation_report.md").read_bytes()).hexdigest()
    assert written["artifacts"] == {"reconciliation_report.md": md_sha}
    assert written["status"] == "red" and "1 source row(s) missing" in written["blockers"][0]


def test_json_rows_green_exit_0_and_bad_input_exit_2(tmp_path: Path) -> None:
    rows = json.dumps([{"id": "a", "v": 1}, {"id": "b", "v": None}])
    doc = _json("--source-rows-json", rows, "--target-rows-json", rows, "--key", "id", expect=0)
    assert doc["passed"] and doc["mode"] == "full" and doc["source_checksum"] == doc["target_checksum"]
    for args in (
        ["--source-rows-json", "[1", "--target-rows-json", "[]", "--key", "id"],
        ["--source-rows-json", rows, "--target-rows-json", rows, "--key", "nope"],
        ["--source-rows-json", rows, "--key", "id"],
        ["--source-rows-json", rows, "--target-rows-json", f"@{tmp_path / 'absent.json'}", "--key", "id"],
    ):
        proc = run_cli("ops", "reconcile", *args)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
        assert "Traceback" not in proc.stderr


def _duck(path: Path, table: str, offset: int = 0) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS s")
        con.execute(
            f"CREATE TABLE s.{table} (id BIGINT PRIMARY KEY, amount DECIMAL(12, 2), name VARCHAR, "
            "ts TIMESTAMPTZ, flag BOOLEAN)"
        )
        con.execute(
            f"INSERT INTO s.{table} SELECT i + {offset}, (i % 1000) / 4, 'n' || i, "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL 1 SECOND, i % 2 = 0 FROM range(1, $n + 1) t(i)",
            {"n": ROWS},
        )


def _plant(path: Path, table: str) -> None:
    """One missing (500000), one extra (2000001), one changed (777777) row in the target."""
    with duckdb.connect(str(path)) as con:
        con.execute(f"DELETE FROM s.{table} WHERE id = 500000")
        con.execute(f"INSERT INTO s.{table} VALUES (2000001, 1.5, 'x', NULL, NULL)")
        con.execute(f"UPDATE s.{table} SET amount = amount + 0.01 WHERE id = 777777")


def _manifest(tmp_path: Path, source: dict[str, Any], sink: dict[str, Any], secret: bool = False) -> Path:
    connections: dict[str, Any] = {"src": source, "dst": {"type": "duckdb", "path": "dst.duckdb"}}
    if secret:
        connections["unused"] = {
            "type": "postgres",
            "host": "h",
            "database": "d",
            "user": "u",
            "password": "${env:RC_SECRET}",
        }
    doc = {
        "version": 1,
        "connections": connections,
        "processes": [
            {
                "name": "orders",
                "source": {"connection": "src", **sink.pop("source")},
                "sink": {"connection": "dst", **sink},
            }
        ],
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def test_duckdb_million_rows_segment_descent_finds_and_repairs(tmp_path: Path) -> None:
    _duck(tmp_path / "src.duckdb", "orders")
    _duck(tmp_path / "dst.duckdb", "orders")
    _plant(tmp_path / "dst.duckdb", "orders")
    manifest = _manifest(
        tmp_path,
        {"type": "duckdb", "path": "src.duckdb"},
        {"source": {"table": "s.orders"}, "table": "s.orders", "strategy": "merge", "primary_key": ["id"]},
    )
    out = tmp_path / "out"
    base = ["--manifest", str(manifest), "-s", "orders", "--output-dir", str(out), "--delete-extra"]
    plan = _json(*base, "--repair", expect=1)  # without --yes: the plan only
    assert (plan["missing_count"], plan["extra_count"], plan["mismatch_count"]) == (1, 1, 1)
    assert plan["mode"] == "segments" and plan["stats"]["rows_fetched"] < 200_000
    assert plan["mismatched_columns"] == {"amount": 1}
    assert {a["action"] for a in plan["repair_actions"]} == {
        "insert_target_row",
        "update_target_row",
        "delete_target_row",
    }
    assert query(tmp_path / "dst.duckdb", "SELECT count(*) FROM s.orders")[0][0] == ROWS
    fixed = _json(*base, "--repair", "--yes", expect=0)  # the verdict is the reconcile after the repair
    assert fixed["repair"]["before"]["missing_count"] == 1 and fixed["source_checksum"] == fixed["target_checksum"]
    assert [x["load"] for x in fixed["repair"]["loads"]] == ["upsert", "delete"]
    assert query(tmp_path / "dst.duckdb", "SELECT amount FROM s.orders WHERE id = 777777") == query(
        tmp_path / "src.duckdb", "SELECT amount FROM s.orders WHERE id = 777777"
    )


def test_parquet_source_streams_and_hashes_like_sql(tmp_path: Path) -> None:
    n = 50_000
    ids = pa.array(range(1, n + 1), pa.int64())
    table = pa.table(
        {
            "id": ids,
            "amount": pa.array([(i % 1000) / 4 for i in range(1, n + 1)]).cast(pa.decimal128(12, 2)),
            "name": pa.array([f"n{i}" for i in range(1, n + 1)]),
        }
    )
    (tmp_path / "in").mkdir()
    pq.write_table(table, tmp_path / "in" / "orders.parquet")
    with duckdb.connect(str(tmp_path / "dst.duckdb")) as con:
        con.execute("CREATE SCHEMA s")
        con.execute(
            "CREATE TABLE s.orders AS SELECT * FROM read_parquet($p)", {"p": str(tmp_path / "in" / "orders.parquet")}
        )
        con.execute("UPDATE s.orders SET name = 'changed' WHERE id = 123")
    manifest = _manifest(
        tmp_path,
        {"type": "files", "root": "in"},
        {
            "source": {"path": "orders.parquet", "format": "parquet"},
            "table": "s.orders",
            "strategy": "merge",
            "primary_key": ["id"],
        },
    )
    doc = _json("--manifest", str(manifest), "-s", "orders", expect=1)
    assert (doc["missing_count"], doc["extra_count"], doc["mismatch_count"]) == (0, 0, 1)
    assert doc["mismatched_columns"] == {"name": 1}


def test_engine_sql_and_python_hash_the_same_values(tmp_path: Path) -> None:
    """Every kind's text is the same from DuckDB SQL and from Python over the same Arrow values."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES "
        "(1, 1.5::DECIMAL(10,3), 0.1::DOUBLE, TIMESTAMPTZ '2024-02-03 04:05:06.789+02', "
        "TIMESTAMP '2024-01-01 00:00:00', DATE '2024-05-06', true, 'héllo'), "
        "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL)) v(id, d, f, tz, ts, dt, b, s)"
    )
    arrow = con.sql("SELECT * FROM t").to_arrow_table()

    def run(sql: str, params: Any) -> Any:
        return con.execute(sql, dict(params) or None).fetchall()

    sql_side = SqlSide(run, "duckdb", None, "t")
    arrow_side = ArrowSide(lambda cols, lo, hi: arrow.select(list(cols)).to_batches(), arrow.schema, "arrow")
    result = reconcile(sql_side, arrow_side, ["id"], options=ReconcileOptions(mode="segments"))
    assert result.passed and result.source_checksum == result.target_checksum, result.to_dict()
    full = reconcile(sql_side, arrow_side, ["id"], options=ReconcileOptions(mode="full"))
    assert full.passed and full.source_checksum == result.source_checksum


def test_options_are_checked() -> None:
    with pytest.raises(Exception, match="segments >= 2"):
        ReconcileOptions(segments=1)
    assert reconcile_rows([{"k": 1}], [{"k": 1}], ["k"]).passed
