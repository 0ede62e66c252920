"""The relay's check scan leaves out what the target's types and constraints guarantee, against a real server.

Every term it leaves out is tried: the violating value must be refused by the table itself. The
same kind of term on a column without the guarantee stays, and still finds the row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import psycopg2
import pyarrow as pa
import pytest

from dpone_core.connectors.postgres.relay import RelayColumn
from dpone_core.connectors.postgres.relay_checks import (
    GUARANTEES_SQL,
    TableGuarantees,
    guarantees_of,
    violation_condition,
    violation_terms,
)
from dpone_core.connectors.postgres.sql import to_pyformat
from dpone_core.gates.contract import ContractGate
from dpone_core.manifest.contract import SchemaContract
from tests.integration.postgres.conftest import PgDatabase, run_cli, run_ok

pytestmark = pytest.mark.integration

TABLE = """CREATE TABLE g (id bigint PRIMARY KEY, label text NOT NULL, note text, amount numeric(18, 2),
  day date CHECK (isfinite(day)), open_day date, at timestamptz CONSTRAINT "finite at" CHECK (isfinite(at)),
  open_at timestamptz)"""
COLUMNS = (
    RelayColumn("id", 20, -1, pa.int64()),
    RelayColumn("label", 25, -1, pa.string()),
    RelayColumn("note", 25, -1, pa.string()),
    RelayColumn("amount", 1700, (18 << 16) + 2 + 4, pa.decimal128(18, 2)),
    RelayColumn("day", 1082, -1, pa.date32()),
    RelayColumn("open_day", 1082, -1, pa.date32()),
    RelayColumn("at", 1184, -1, pa.timestamp("us", tz="UTC")),
    RelayColumn("open_at", 1184, -1, pa.timestamp("us", tz="UTC")),
)
GATE = ContractGate(SchemaContract(enforcement="strict"), not_null=frozenset({"id", "label", "note"}))
BREAKING = {"null": ["NULL"], "infinity": ["'Infinity'", "'-Infinity'"], "infinite": ["'infinity'", "'-infinity'"]}
"""The values that make a term of each kind true."""


def _guarantees(pg: PgDatabase) -> TableGuarantees:
    return guarantees_of(pg.sql(to_pyformat(GUARANTEES_SQL), ("public.g",)))


def _insert(pg: PgDatabase, column: str, value: str) -> None:
    row: dict[str, Any] = {"id": "1", "label": "'x'", column: value}
    pg.sql(f"INSERT INTO g ({', '.join(row)}) VALUES ({', '.join(row.values())})")


def test_every_term_left_out_is_one_the_table_refuses(pg: PgDatabase) -> None:
    pg.sql(TABLE)
    guarantees = _guarantees(pg)
    assert guarantees == TableGuarantees(
        not_null=frozenset({"id", "label"}), bounded_numeric=frozenset({"amount"}), finite=frozenset({"day", "at"})
    )
    terms = violation_terms(COLUMNS, GATE)
    assert terms is not None
    left_out = [t for t in terms if guarantees.rules_out(t)]
    assert {(t.column, t.kind) for t in left_out} == {
        ("id", "null"),
        ("label", "null"),
        ("amount", "infinity"),
        ("day", "infinite"),
        ("at", "infinite"),
    }
    for term in left_out:
        for value in BREAKING[term.kind]:
            with pytest.raises(psycopg2.Error) as refused:
                _insert(pg, term.column, value)
            assert refused.value.pgcode in {"23502", "22003", "23514"}, (term, value)
    assert pg.sql("SELECT count(*) FROM g") == [(0,)]


@pytest.mark.parametrize(
    ("column", "value"),
    [("note", "NULL"), ("amount", "'NaN'"), ("open_day", "'infinity'"), ("open_at", "'-infinity'")],
)
def test_a_term_the_table_does_not_guarantee_still_finds_the_row(pg: PgDatabase, column: str, value: str) -> None:
    pg.sql(TABLE)
    found = violation_condition(COLUMNS, GATE, 150000, _guarantees(pg))
    assert found is not None
    condition, params = found
    scan = to_pyformat(f"SELECT EXISTS (SELECT 1 FROM g WHERE {condition})")
    _insert(pg, "note", "'fine'")
    assert pg.sql(scan, params) == [(False,)]
    pg.sql("DELETE FROM g")
    _insert(pg, column, value)
    assert pg.sql(scan, params) == [(True,)]


def test_a_guarantee_needs_the_exact_check_and_a_numeric_precision(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE g (d date CHECK (isfinite(d) OR d IS NULL), n numeric, m numeric(10, 0))")
    assert _guarantees(pg) == TableGuarantees(bounded_numeric=frozenset({"m"}))


def _scans(pg: PgDatabase, table: str) -> int:
    """Sequential scans of ``table`` so far (the check scan has no index to use here)."""
    rows = pg.sql("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = %s", (table,))
    return int(rows[0][0]) if rows else 0


def _settled_scans(pg: PgDatabase, enough: Callable[[int, int], bool]) -> tuple[int, int]:
    """Sequential scans of dst_scanned and dst once ``enough`` holds for them (the statistics arrive late)."""
    deadline = time.monotonic() + 10
    while not enough(_scans(pg, "dst_scanned"), _scans(pg, "dst")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # nothing more is on its way
    return _scans(pg, "dst_scanned"), _scans(pg, "dst")


def test_the_check_scan_runs_only_where_a_term_is_left(pg: PgDatabase) -> None:
    """A target whose catalog rules out every term is not read after the COPY; one with a term left is."""
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, label text NOT NULL, n int)")
    pg.sql("INSERT INTO src SELECT g, 'L' || g, g FROM generate_series(1, 500) g")
    label = {"label": {"nullable": False}}
    for table, rules in (("dst_scanned", {**label, "n": {"min": 0}}), ("dst", label)):
        process = {
            "name": table,
            "source": {"connection": "pg", "table": "public.src"},
            "sink": {"connection": "pg", "table": f"public.{table}", "strategy": "full_refresh", "primary_key": ["id"]},
            "schema_contract": {"enforcement": "strict", "columns": rules},
        }
        assert run_ok(pg.manifest([process], name=f"{table}.yaml")).result.write_path == "relay"
    # Building the primary key reads each new table once; the min rule is scanned for once more.
    # In dst, id and label are NOT NULL: nothing is left to scan for.
    assert _settled_scans(pg, lambda scanned, plain: scanned >= 2 and plain >= 1) == (2, 1)


def test_a_row_the_scan_finds_in_a_new_target_fails_the_run_as_on_the_arrow_path(
    pg: PgDatabase,
) -> None:
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, label text NOT NULL, n int)")
    pg.sql("INSERT INTO src SELECT g, 'L' || g, g FROM generate_series(1, 500) g")
    pg.sql("UPDATE src SET n = -5 WHERE id = 300")
    process = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "full_refresh", "primary_key": ["id"]},
        "schema_contract": {"enforcement": "strict", "columns": {"n": {"min": 0}}},
    }
    result = run_cli(pg.manifest([process]), "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["result"]["errors"][0]
    assert error["code"] == "DPONE_CONTRACT_VIOLATION" and "n.min" in error["message"]
    assert pg.sql("SELECT to_regclass('public.dst')") == [(None,)] and pg.loads("p") == 0
