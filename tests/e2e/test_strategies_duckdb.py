"""DuckDB's own side of the strategies (the behaviour of every strategy is in tests/conformance)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tests.e2e.conftest import query, run_json


def test_scd2_keys_the_history_table_by_key_and_valid_from(project: Callable[..., Path]) -> None:
    m = project(
        "id,v\n1,a\n2,b\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: scd2, primary_key: [id]}
""",
    )
    run_json(m)
    key = query(
        m.parent / "wh.duckdb",
        "SELECT constraint_column_names FROM duckdb_constraints() WHERE constraint_type='PRIMARY KEY' "
        "AND table_name='t'",
    )
    assert key == [(["id", "valid_from"],)]


def test_a_new_tables_key_rejects_a_repeat_of_the_first_load(
    project: Callable[..., Path],
) -> None:
    process = """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: merge, primary_key: [id]}
  schema_contract: {enforcement: quarantine}
"""
    m = project("id,v\n1,a\n2,b\n2,c\n3,d\n", process)
    report = run_json(m)
    assert report["result"]["ddl"] == ['CREATE TABLE "t" ("id" BIGINT NOT NULL, "v" VARCHAR, PRIMARY KEY ("id"))']
    # The new table's key rejected the repeat in the direct load; the load went through staging.
    assert report["result"]["write_path"] == "staged" and report["result"]["quarantined_rows"] == 1
    db = m.parent / "wh.duckdb"
    assert query(db, "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b"), (3, "d")]
    key = "SELECT constraint_column_names FROM duckdb_constraints() WHERE constraint_type='PRIMARY KEY'"
    assert query(db, key + " AND table_name='t'") == [(["id"],)]
    with pytest.raises(duckdb.ConstraintException), duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO t VALUES (1, 'again')")
