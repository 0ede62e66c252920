"""Every write strategy, Postgres -> Postgres through ``dpone_core.run``, checked row by row."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.postgres.conftest import PgDatabase, run_ok

pytestmark = pytest.mark.integration

SOURCE_DDL = """
CREATE TABLE src (
  id bigint PRIMARY KEY,
  amount numeric(18, 2) NOT NULL,
  name text,
  updated_at timestamptz NOT NULL,
  day date NOT NULL,
  deleted boolean NOT NULL DEFAULT false
)
"""


def _seed(pg: PgDatabase, rows: list[tuple[Any, ...]]) -> None:
    pg.sql(SOURCE_DDL)
    _insert(pg, rows)


def _insert(pg: PgDatabase, rows: list[tuple[Any, ...]]) -> None:
    con = pg.connect()
    with con.cursor() as cur:
        cur.executemany(
            "INSERT INTO src (id, amount, name, updated_at, day, deleted) VALUES (%s, %s, %s, %s, %s, %s)", rows
        )
    con.close()


def _ts(hour: int) -> datetime:
    return datetime(2026, 1, 1, hour, tzinfo=UTC)


def _row(i: int, amount: str, name: str | None, hour: int, day: int = 1, deleted: bool = False) -> tuple[Any, ...]:
    return (i, Decimal(amount), name, _ts(hour), datetime(2026, 1, day).date(), deleted)


def _process(strategy: str, **sink: Any) -> dict[str, Any]:
    process: dict[str, Any] = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": strategy, **sink},
    }
    return process


def _target(pg: PgDatabase, columns: str = "id, amount, name") -> list[tuple[Any, ...]]:
    return pg.sql(f"SELECT {columns} FROM dst ORDER BY 1, 2")


def test_full_refresh_replaces_and_keeps_types_keys_and_not_null(pg: PgDatabase) -> None:
    _seed(pg, [_row(1, "1.50", "a", 1), _row(2, "2.25", "b", 2), _row(3, "3.00", None, 3)])
    manifest = pg.manifest([_process("full_refresh", primary_key=["id"])])
    first = run_ok(manifest)
    assert (first.result.inserted_rows, first.result.deleted_rows) == (3, 0)
    pg.sql("DELETE FROM src WHERE id = 2; UPDATE src SET name = 'c' WHERE id = 3")
    second = run_ok(manifest)
    assert (second.result.inserted_rows, second.result.deleted_rows) == (2, 3)
    assert _target(pg) == [(1, Decimal("1.50"), "a"), (3, Decimal("3.00"), "c")]
    columns = pg.sql(
        "SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable "
        "FROM information_schema.columns WHERE table_name = 'dst' ORDER BY ordinal_position"
    )
    assert columns == [
        ("id", "bigint", 64, 0, "NO"),
        ("amount", "numeric", 18, 2, "NO"),
        ("name", "text", None, None, "YES"),
        ("updated_at", "timestamp with time zone", None, None, "NO"),
        ("day", "date", None, None, "NO"),
        ("deleted", "boolean", None, None, "NO"),
    ]
    key = pg.sql(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'dst'::regclass AND i.indisprimary"
    )
    assert key == [("id",)]
    assert pg.loads("p") == 2
    assert pg.staging_tables() == []


def test_append_with_cursor_loads_only_new_rows_and_keeps_the_cursor_in_state(pg: PgDatabase) -> None:
    _seed(pg, [_row(1, "1", "a", 1), _row(2, "2", "b", 2)])
    process = _process("append")
    process["source"]["incremental"] = {"cursor": "updated_at"}
    manifest = pg.manifest([process])
    run_ok(manifest)
    state = pg.state("p")
    assert state is not None and state["cursor_column"] == "updated_at"
    assert "2026-01-01T02:00:00+00:00" in state["cursor_value"]
    _insert(pg, [_row(3, "3", "c", 3)])
    second = run_ok(manifest)
    assert second.result.extracted_rows == 1
    assert _target(pg) == [(1, Decimal("1.00"), "a"), (2, Decimal("2.00"), "b"), (3, Decimal("3.00"), "c")]
    assert "2026-01-01T03:00:00+00:00" in (pg.state("p") or {})["cursor_value"]
    third = run_ok(manifest)
    assert third.result.extracted_rows == 0 and len(_target(pg)) == 3


def test_incremental_with_lookback_rereads_without_duplicates(pg: PgDatabase) -> None:
    _seed(pg, [_row(1, "1", "a", 5), _row(2, "2", "b", 6)])
    process = _process("incremental", primary_key=["id"])
    process["source"]["incremental"] = {"cursor": "updated_at", "lookback": "2h"}
    manifest = pg.manifest([process])
    run_ok(manifest)
    _insert(pg, [_row(3, "3", "late", 5), _row(4, "4", "new", 7), _row(5, "5", "too late", 1)])
    second = run_ok(manifest)
    # lookback 2h from the 06:00 cursor re-reads 04:00 onwards: ids 1, 2, 3, 4; id 5 (01:00) is out of range
    assert second.result.extracted_rows == 4
    assert second.result.inserted_rows == 2
    assert [r[0] for r in _target(pg)] == [1, 2, 3, 4]
    assert "2026-01-01T07:00:00+00:00" in (pg.state("p") or {})["cursor_value"]


def test_merge_updates_inserts_and_hard_deletes_marked_rows(pg: PgDatabase) -> None:
    _seed(pg, [_row(1, "1", "a", 1), _row(2, "2", "b", 1), _row(3, "3", "c", 1)])
    manifest = pg.manifest([_process("merge", primary_key=["id"], delete_marker={"column": "deleted", "mode": "hard"})])
    run_ok(manifest)
    pg.sql("UPDATE src SET name = 'B' WHERE id = 2; UPDATE src SET deleted = true WHERE id = 3")
    _insert(pg, [_row(4, "4", "d", 2)])
    report = run_ok(manifest)
    assert (report.result.inserted_rows, report.result.updated_rows, report.result.deleted_rows) == (1, 1, 1)
    assert _target(pg) == [(1, Decimal("1.00"), "a"), (2, Decimal("2.00"), "B"), (4, Decimal("4.00"), "d")]
    assert "deleted" not in [
        r[0] for r in pg.sql("SELECT column_name FROM information_schema.columns WHERE table_name = 'dst'")
    ]
    again = run_ok(manifest)
    assert (again.result.inserted_rows, again.result.updated_rows, again.result.deleted_rows) == (0, 0, 0)


def test_merge_soft_delete_keeps_the_row_flagged(pg: PgDatabase) -> None:
    _seed(pg, [_row(1, "1", "a", 1), _row(2, "2", "b", 1)])
    manifest = pg.manifest([_process("merge", primary_key=["id"], delete_marker={"column": "deleted", "mode": "soft"})])
    run_ok(manifest)
    pg.sql("UPDATE src SET deleted = true WHERE id = 2")
    report = run_ok(manifest)
    assert report.result.deleted_rows == 1
    assert _target(pg, "id, name, deleted") == [(1, "a", False), (2, "b", True)]


def test_scd2_closes_changed_versions_and_opens_new_ones(pg: PgDatabase) -> None:
    _seed(pg, [_row(1, "1", "a", 1), _row(2, "2", "b", 1)])
    manifest = pg.manifest([_process("scd2", primary_key=["id"])])
    run_ok(manifest)
    pg.sql("UPDATE src SET name = 'B' WHERE id = 2")
    report = run_ok(manifest)
    assert (report.result.inserted_rows, report.result.updated_rows) == (1, 1)
    history = pg.sql("SELECT id, name, is_current, valid_to IS NULL FROM dst ORDER BY id, valid_from")
    assert history == [(1, "a", True, True), (2, "b", False, False), (2, "B", True, True)]
    closed_at, opened_at = pg.sql(
        "SELECT (SELECT valid_to FROM dst WHERE id = 2 AND NOT is_current), "
        "(SELECT valid_from FROM dst WHERE id = 2 AND is_current)"
    )[0]
    assert closed_at == opened_at
    unchanged = run_ok(manifest)
    assert (unchanged.result.inserted_rows, unchanged.result.updated_rows) == (0, 0)


def test_snapshot_diff_deletes_rows_missing_from_the_snapshot(pg: PgDatabase) -> None:
    _seed(pg, [_row(1, "1", "a", 1), _row(2, "2", "b", 1), _row(3, "3", "c", 1)])
    manifest = pg.manifest([_process("snapshot_diff", primary_key=["id"])])
    run_ok(manifest)
    pg.sql("DELETE FROM src WHERE id = 1; UPDATE src SET amount = 9.99 WHERE id = 3")
    report = run_ok(manifest)
    assert (report.result.deleted_rows, report.result.updated_rows) == (1, 1)
    assert _target(pg) == [(2, Decimal("2.00"), "b"), (3, Decimal("9.99"), "c")]


def test_partition_replace_replaces_only_the_days_present(pg: PgDatabase) -> None:
    _seed(pg, [_row(1, "1", "a", 1, day=1), _row(2, "2", "b", 1, day=2)])
    process = _process("partition_replace")
    process["partitions"] = {"column": "day", "grain": "day"}
    manifest = pg.manifest([process])
    run_ok(manifest)
    pg.sql("DELETE FROM src; ")
    _insert(pg, [_row(7, "7", "z", 1, day=2)])
    report = run_ok(manifest)
    assert (report.result.deleted_rows, report.result.inserted_rows) == (1, 1)
    assert _target(pg, "id, day") == [(1, datetime(2026, 1, 1).date()), (7, datetime(2026, 1, 2).date())]


def test_merge_with_enforcement_off_refuses_a_null_key_instead_of_inserting_it_every_run(pg: PgDatabase) -> None:
    # A hand-made target without a key constraint: nothing in the database stops a NULL key.
    pg.sql("CREATE TABLE src (id bigint, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    pg.sql("CREATE TABLE dst (id bigint, v text)")
    process = _process("merge", primary_key=["id"])
    process["schema_contract"] = {"enforcement": "off"}
    manifest = pg.manifest([process])
    run_ok(manifest)
    pg.sql("INSERT INTO src VALUES (NULL, 'no key')")
    import dpone_core

    for _ in range(2):
        report = dpone_core.run(manifest)
        assert not report.passed and report.result.errors[0].code == "DPONE_CONTRACT_VIOLATION"
        assert "key column id" in report.result.errors[0].message
    assert pg.sql("SELECT id, v FROM dst ORDER BY id") == [(1, "a"), (2, "b")]
    verdicts = {g.rule: g.verdict for g in report.result.gates if g.gate == "contract"}
    assert verdicts["id.not_null"] == "failed"
