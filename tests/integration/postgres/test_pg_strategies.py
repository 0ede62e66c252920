"""Postgres -> Postgres specifics of the strategies: types, keys and NOT NULL kept, the source's cursor pushdown,
the key rule with enforcement off. Every strategy's rows and counts on Postgres are in tests/conformance."""

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
