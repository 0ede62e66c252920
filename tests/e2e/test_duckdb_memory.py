"""DuckDB memory: default loads do not fail on size; a limit that is reached names memory_limit."""

from __future__ import annotations

from pathlib import Path

import duckdb

import dpone_core

MANIFEST = """
version: 1
connections:
  inbox: {{type: files, root: in}}
  wh: {{type: duckdb, path: wh.duckdb{extra}}}
processes:
  - name: p
    source: {{connection: inbox, path: data.parquet, format: parquet}}
    sink: {{connection: wh, table: t, strategy: full_refresh, primary_key: [id]}}
"""


def _project(tmp_path: Path, rows: int, extra: str = "") -> Path:
    (tmp_path / "in").mkdir()
    duckdb.sql(
        f"COPY (SELECT i::BIGINT AS id, 'v' || i AS v FROM range({rows}) r(i)) "
        f"TO '{tmp_path / 'in' / 'data.parquet'}' (FORMAT parquet)"
    )
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST.format(extra=extra), encoding="utf-8")
    return manifest


def test_a_second_full_refresh_of_two_million_rows_passes_on_defaults(tmp_path: Path) -> None:
    # Under the old fixed 128MB limit the second load failed at COMMIT (the key index did not fit).
    manifest = _project(tmp_path, 2_000_000)
    for _ in range(2):
        report = dpone_core.run(manifest)
        assert report.passed, report.to_text()
        assert report.result.inserted_rows == 2_000_000
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (2_000_000, 2_000_000)


def test_a_memory_limit_that_is_too_small_fails_naming_it(tmp_path: Path) -> None:
    manifest = _project(tmp_path, 300_000, extra=", memory_limit: 4MB")
    report = dpone_core.run(manifest)
    assert not report.passed
    error = report.result.errors[0]
    assert error.code == "DPONE_OUT_OF_MEMORY", error.line
    assert "memory_limit 4MB" in error.line and "Fix: raise memory_limit" in error.line
    assert report.exit_code == 1
