"""Standalone table checks (``dpone check`` / ``dpone_core.api.check``) against real DuckDB targets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb

import dpone_core
from dpone_core.api import check
from tests.e2e.conftest import run_cli


def _verdicts(report: dpone_core.api.TableCheckReport) -> dict[str, tuple[str, int]]:
    return {v.rule: (v.verdict, v.failed_rows) for v in report.verdicts}


def _sql(db: Path, *statements: str) -> None:
    with duckdb.connect(str(db)) as con:
        for statement in statements:
            con.execute(statement)


def test_quickstart_table_passes_then_fails_after_another_writer(quickstart: Path) -> None:
    assert dpone_core.run(quickstart).passed
    report = check(quickstart, "orders", max_age="1h")
    assert report.passed, report.to_text()
    assert report.checked_rows == 3835
    assert _verdicts(report)["load.row_count"] == ("passed", 0)
    assert _verdicts(report)["load.freshness"][0] == "passed"
    assert report.last_load is not None and report.last_load["load_id"]

    db = quickstart.parent / ".dpone" / "warehouse.duckdb"
    _sql(
        db,
        "UPDATE analytics.orders SET amount = -5 WHERE id IN (1, 2)",
        "INSERT INTO analytics.orders SELECT * REPLACE (id + 1000000 AS id) FROM analytics.orders "
        "ORDER BY id DESC LIMIT 3",
    )
    report = check(quickstart, "orders")
    verdicts = _verdicts(report)
    assert not report.passed
    assert verdicts["amount.min"] == ("failed", 2)
    assert verdicts["load.row_count"] == ("failed", 3)
    assert verdicts["load.freshness"] == ("skipped", 0)
    assert verdicts["status.allowed"] == ("passed", 0)


def test_merge_counts_inserts_and_deletes_over_every_load(project: Callable[..., Path]) -> None:
    m = project(
        "id,v,gone\n1,a,false\n2,b,false\n3,c,false\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: merge, primary_key: [id], delete_marker: {column: gone}}
  schema_contract: {columns: {id: {type: integer}, v: {nullable: false}}}
""",
    )
    assert dpone_core.run(m, run_id="r1").passed
    (m.parent / "in" / "data.csv").write_text("id,v,gone\n2,B,false\n3,c,true\n4,d,false\n5,e,false\n")
    second = dpone_core.run(m, run_id="r2")
    assert second.passed and second.result.deleted_rows == 1
    report = check(m, "p")
    assert report.passed, report.to_text()
    assert report.checked_rows == 4
    assert _verdicts(report)["id.unique"] == ("passed", 0)


def test_partition_slice_is_checked_against_its_own_newest_load(project: Callable[..., Path]) -> None:
    m = project(
        "id,day,amount\n1,2024-01-01,1\n2,2024-01-01,2\n3,2024-01-02,3\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: partition_replace, primary_key: [id]}
  partitions: {column: day, grain: day, start: "2024-01-01"}
  schema_contract: {columns: {id: {type: integer}, day: {type: date}, amount: {type: integer, min: 0}}}
""",
    )
    for day in ("2024-01-01", "2024-01-02"):
        assert dpone_core.run(m, run_id=f"r-{day}", partition=day).passed
    assert check(m, "p").passed
    day_one = check(m, "p", partition="2024-01-01")
    assert day_one.passed and day_one.checked_rows == 2
    _sql(m.parent / "wh.duckdb", "DELETE FROM t WHERE id = 3")
    assert _verdicts(check(m, "p", partition="2024-01-01"))["load.row_count"] == ("passed", 0)
    assert _verdicts(check(m, "p", partition="2024-01-02"))["load.row_count"] == ("failed", 1)


def test_a_table_another_tool_writes(project: Callable[..., Path]) -> None:
    m = project(
        "id\n1\n",
        """
- name: external
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: crm.accounts, strategy: merge, primary_key: [id]}
  schema_contract: {columns: {email: {regex: "^[^@]+@[^@]+$"}, tier: {allowed: [gold, silver]}}}
""",
    )
    missing = check(m, "external")
    assert _verdicts(missing)["table.exists"] == ("failed", 0) and missing.exit_code == 1
    _sql(
        m.parent / "wh.duckdb",
        "CREATE SCHEMA crm",
        "CREATE TABLE crm.accounts (id INTEGER, email VARCHAR, tier VARCHAR)",
        "INSERT INTO crm.accounts VALUES (1, 'a@x.io', 'gold'), (1, 'b@x.io', 'bronze'), (2, 'nope', NULL)",
    )
    verdicts = _verdicts(check(m, "external", max_age="1d"))
    assert verdicts["id.unique"] == ("failed", 2)
    assert verdicts["email.regex"] == ("failed", 1)
    assert verdicts["tier.allowed"] == ("failed", 1)
    assert verdicts["load.row_count"][0] == "skipped"
    assert verdicts["load.freshness"] == ("failed", 0)  # a max_age with no load recorded is not fresh


def test_scd2_history_is_not_a_duplicate(project: Callable[..., Path]) -> None:
    m = project(
        "id,v\n1,a\n2,b\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: scd2, primary_key: [id]}
""",
    )
    assert dpone_core.run(m, run_id="r1").passed
    (m.parent / "in" / "data.csv").write_text("id,v\n1,A\n2,b\n")
    assert dpone_core.run(m, run_id="r2").passed
    report = check(m, "p")
    assert report.passed and report.checked_rows == 3
    assert _verdicts(report)["load.row_count"][0] == "skipped"


def test_cli_exit_codes(quickstart: Path) -> None:
    assert dpone_core.run(quickstart).passed
    passed = run_cli("check", str(quickstart), "--max-age", "1d", "--format", "json")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert json.loads(passed.stdout)["verdicts"]
    stale = run_cli("check", str(quickstart), "--max-age", "0s")
    assert stale.returncode == 1 and "load.freshness: failed" in stale.stdout
    bad = run_cli("check", str(quickstart), "--max-age", "soon")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "give max_age as" in bad.stdout
    wrong = run_cli("check", str(quickstart), "--partition", "2024-01-01")
    assert wrong.returncode == 2 and "has no partitions" in wrong.stdout
