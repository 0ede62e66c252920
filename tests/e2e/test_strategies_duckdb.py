"""Every write strategy on DuckDB through the CLI, target checked row by row after each load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import query, run_json

CONTRACT = """
schema_contract:
  enforcement: strict
  columns:
    id: {type: int64}
    v: {type: string}
"""


def load(manifest: Path, csv: str) -> dict:
    (manifest.parent / "in" / "data.csv").write_text(csv, encoding="utf-8")
    return run_json(manifest)["result"]


def rows(manifest: Path, sql: str = "SELECT * FROM t ORDER BY ALL") -> list[tuple]:
    return query(manifest.parent / "wh.duckdb", sql)


def counts(result: dict) -> tuple[int, int, int]:
    return result["inserted_rows"], result["updated_rows"], result["deleted_rows"]


def test_full_refresh(project: Callable[..., Path]) -> None:
    m = project(
        "id,v\n1,a\n2,b\n",
        f"""
        - name: p
          source: {{connection: inbox, path: data.csv, format: csv}}
          sink: {{connection: wh, table: t, strategy: full_refresh, primary_key: [id]}}
        {CONTRACT}""".replace("\n        schema", "\n  schema").replace("\n    ", "\n      ")
        if False
        else """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: full_refresh, primary_key: [id]}
""",
    )
    assert counts(run_json(m)["result"]) == (2, 0, 0)
    assert counts(load(m, "id,v\n2,B\n3,c\n")) == (2, 0, 2)
    assert rows(m) == [(2, "B"), (3, "c")]


def test_append(project: Callable[..., Path]) -> None:
    m = project(
        "id,v\n1,a\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: append}
""",
    )
    run_json(m)
    assert counts(load(m, "id,v\n1,a\n2,b\n")) == (2, 0, 0)
    assert rows(m) == [(1, "a"), (1, "a"), (2, "b")]


def test_incremental_with_lookback_skips_reread_rows(project: Callable[..., Path]) -> None:
    m = project(
        "id,v,ts\n1,a,2026-01-01T00:00:00Z\n2,b,2026-01-02T00:00:00Z\n",
        """
- name: p
  source:
    connection: inbox
    path: data.csv
    format: csv
    incremental: {cursor: ts, lookback: 1d}
  sink: {connection: wh, table: t, strategy: incremental, primary_key: [id]}
  schema_contract: {columns: {ts: {type: timestamp, tz: UTC}}}
""",
    )
    assert counts(run_json(m)["result"]) == (2, 0, 0)
    # Row 2 is re-read by the 1-day lookback and skipped; row 3 is new; row 0 is before the window.
    second = load(m, "id,v,ts\n0,z,2025-12-01T00:00:00Z\n2,b,2026-01-02T00:00:00Z\n3,c,2026-01-03T00:00:00Z\n")
    assert second["extracted_rows"] == 2 and counts(second) == (1, 0, 0)
    assert [r[:2] for r in rows(m)] == [(1, "a"), (2, "b"), (3, "c")]
    state = rows(m, "SELECT cursor_value FROM __dpone__state")[0][0]
    assert "2026-01-03T00:00:00" in state


def test_merge_with_hard_deletes(project: Callable[..., Path]) -> None:
    m = project(
        "id,v,gone\n1,a,false\n2,b,false\n3,c,false\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink:
    connection: wh
    table: t
    strategy: merge
    primary_key: [id]
    delete_marker: {column: gone, mode: hard}
""",
    )
    assert counts(run_json(m)["result"]) == (3, 0, 0)
    assert rows(m) == [(1, "a"), (2, "b"), (3, "c")]  # the hard marker column is not stored
    assert counts(load(m, "id,v,gone\n1,a,false\n2,B,false\n3,c,true\n4,d,false\n")) == (1, 1, 1)
    assert rows(m) == [(1, "a"), (2, "B"), (4, "d")]
    assert counts(load(m, "id,v,gone\n1,a,false\n2,B,false\n4,d,false\n")) == (0, 0, 0)


def test_merge_with_soft_deletes(project: Callable[..., Path]) -> None:
    m = project(
        "id,v,gone\n1,a,false\n2,b,false\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink:
    connection: wh
    table: t
    strategy: merge
    primary_key: [id]
    delete_marker: {column: gone, mode: soft}
""",
    )
    run_json(m)
    assert counts(load(m, "id,v,gone\n2,b,true\n")) == (0, 0, 1)
    assert rows(m) == [(1, "a", False), (2, "b", True)]


def test_scd2_history(project: Callable[..., Path]) -> None:
    m = project(
        "id,v\n1,a\n2,b\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: scd2, primary_key: [id]}
""",
    )
    assert counts(run_json(m)["result"]) == (2, 0, 0)
    assert counts(load(m, "id,v\n1,a\n2,B\n3,c\n")) == (2, 1, 0)
    history = rows(m, "SELECT id, v, is_current, valid_to IS NULL FROM t ORDER BY id, valid_from")
    assert history == [(1, "a", True, True), (2, "b", False, False), (2, "B", True, True), (3, "c", True, True)]
    assert counts(load(m, "id,v\n1,a\n2,B\n3,c\n")) == (0, 0, 0)
    key = rows(
        m,
        "SELECT constraint_column_names FROM duckdb_constraints() WHERE constraint_type='PRIMARY KEY' "
        "AND table_name='t'",
    )
    assert key == [(["id", "valid_from"],)]


def test_snapshot_diff_deletes_vanished_keys(project: Callable[..., Path]) -> None:
    m = project(
        "id,v\n1,a\n2,b\n3,c\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: snapshot_diff, primary_key: [id]}
""",
    )
    run_json(m)
    assert counts(load(m, "id,v\n1,a\n3,C\n")) == (0, 1, 1)
    assert rows(m) == [(1, "a"), (3, "C")]


def test_partition_replace(project: Callable[..., Path]) -> None:
    m = project(
        "id,day,v\n1,2026-01-01,a\n2,2026-01-01,b\n3,2026-01-02,c\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: partition_replace}
  partitions: {column: day, grain: day}
  schema_contract: {columns: {day: {type: date}}}
""",
    )
    run_json(m)
    result = load(m, "id,day,v\n9,2026-01-01,z\n")
    assert counts(result) == (1, 0, 2)
    assert [(r[0], r[2]) for r in rows(m)] == [(3, "c"), (9, "z")]


def test_partition_key_loads_one_slice(project: Callable[..., Path]) -> None:
    m = project(
        "id,day,v\n1,2026-01-01,a\n2,2026-01-02,b\n",
        """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: merge, primary_key: [id]}
  partitions: {column: day, grain: day, start: "2026-01-01"}
  schema_contract: {columns: {day: {type: date}}}
""",
    )
    result = run_json(m, "--partition", "2026-01-02")["result"]
    assert result["extracted_rows"] == 1
    assert [r[0] for r in rows(m)] == [2]


def test_partition_run_ignores_and_keeps_the_cursor(project: Callable[..., Path]) -> None:
    m = project(
        "id,day\n1,2026-01-01\n2,2026-01-02\n",
        """
- name: p
  source:
    connection: inbox
    path: data.csv
    format: csv
    incremental: {cursor: day}
  sink: {connection: wh, table: t, strategy: merge, primary_key: [id]}
  partitions: {column: day, grain: day, start: "2026-01-01"}
  schema_contract: {columns: {day: {type: date}}}
""",
    )
    run_json(m)
    cursor = rows(m, "SELECT cursor_value FROM __dpone__state")
    # A late row for an old day: the incremental run skips it, a backfill of that day loads it.
    load(m, "id,day\n1,2026-01-01\n2,2026-01-02\n3,2026-01-01\n")
    assert rows(m, "SELECT count(*) FROM t") == [(2,)]
    result = run_json(m, "--partition", "2026-01-01")["result"]
    assert (result["extracted_rows"], result["inserted_rows"]) == (2, 1)
    assert rows(m, "SELECT cursor_value FROM __dpone__state") == cursor
