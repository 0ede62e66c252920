"""DuckDB's own side of the strategies (the behaviour of every strategy is in tests/conformance)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
