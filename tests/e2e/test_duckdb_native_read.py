"""Parquet -> DuckDB through DuckDB's own reader (the ``native`` write path) against the Arrow path.

Each test runs the same load twice on real files and real DuckDB databases: once as dpone runs it
(DuckDB's ``read_parquet``, the contract as SQL) and once with the native path switched off (every
row through the Arrow gates). The target rows, the report's counts and verdicts, the quarantined
rows and reasons, the audit row and the state must be the same; only ``write_path`` differs.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dpone_core
from dpone_core.api import RunReport
from dpone_core.runtime import write_paths
from tests.e2e.conftest import CLI, wait_for

CONTRACT = """
    schema_contract:
      enforcement: "{enforcement}"
      columns:
        id: {{type: int64, nullable: false, unique: true}}
        amount: {{type: decimal, precision: 18, scale: 2, min: 0, max: 1000}}
        status: {{type: string, allowed: [new, paid]}}
        email: {{type: string, regex: "^[^@ ]+@[^@ ]+$", max_length: 12}}
        {extra}
"""
MANIFEST = """
version: 1
connections:
  inbox: {{type: files, root: in}}
  wh: {{type: duckdb, path: wh.duckdb}}
processes:
  - name: p
    source: {{connection: inbox, path: "*.parquet", format: parquet{incremental}}}
    sink: {{connection: wh, table: t, strategy: {strategy}, primary_key: [id]}}
    runtime_evidence: {{output_dir: evidence}}
    quarantine: {{dir: quarantine}}
"""
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("amount", pa.decimal128(18, 2)),
        ("status", pa.string()),
        ("email", pa.string()),
        ("score", pa.float64()),
        ("at", pa.timestamp("us", tz="UTC")),
    ]
)


def rows(ids: range, **overrides: dict[int, Any]) -> pa.Table:
    """Clean rows for ``ids``; ``overrides`` maps a column to {id: value}."""
    base: dict[str, list[Any]] = {
        "id": list(ids),
        "amount": [Decimal(i % 900) / 4 for i in ids],
        "status": ["new" if i % 2 else "paid" for i in ids],
        "email": [f"u{i}@x.io" for i in ids],
        "score": [i / 3 for i in ids],
        "at": [1_700_000_000_000_000 + i for i in ids],
    }
    for column, values in overrides.items():
        for key, value in values.items():
            base[column][list(ids).index(key)] = value
    return pa.table(base, schema=SCHEMA)


@pytest.fixture()
def native_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bool], None]]:
    """Switch the native path off (True) or back on (False) for the runs that follow."""
    real = write_paths.native_scan

    def switch(off: bool) -> None:
        monkeypatch.setattr(write_paths, "native_scan", (lambda *a, **k: None) if off else real)

    yield switch


class Project:
    """One folder with input files, a manifest and a DuckDB target."""

    def __init__(self, root: Path, strategy: str, enforcement: str, incremental: str = "", extra: str = "") -> None:
        self.root = root
        (root / "in").mkdir(parents=True)
        contract = CONTRACT.format(enforcement=enforcement, extra=extra)
        text = MANIFEST.format(strategy=strategy, incremental=incremental) + contract
        self.manifest = root / "m.yaml"
        self.manifest.write_text(textwrap.dedent(text), encoding="utf-8")

    def write(self, name: str, table: pa.Table) -> None:
        pq.write_table(table, self.root / "in" / name)

    def run(self) -> RunReport:
        return dpone_core.run(self.manifest, restart=True)

    def target(self) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.root / "wh.duckdb"), read_only=True) as con:
            return con.execute("SELECT * FROM t ORDER BY id").fetchall()

    def audit(self) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.root / "wh.duckdb"), read_only=True) as con:
            return con.execute(
                "SELECT rows_extracted, rows_staged, rows_inserted, rows_updated, rows_deleted, rows_quarantined "
                "FROM __dpone__loads ORDER BY finished_at"
            ).fetchall()

    def quarantined(self, report: RunReport) -> list[dict[str, Any]]:
        found = [row for path in report.result.quarantine_paths for row in pq.read_table(path).to_pylist()]
        return [{k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in found]


def summary(project: Project, report: RunReport) -> dict[str, Any]:
    """What must be equal between the two paths."""
    result = report.result
    state = {k: v for k, v in (result.state_after or {}).items() if k in {"cursor_value", "extra"}}
    files = (state.get("extra") or {}).get("files")
    if files:  # the files of the two projects were written at other times: compare which were loaded
        state["extra"] = sorted(files["seen"])
    return {
        "passed": report.passed,
        "errors": [e.line for e in result.errors],
        "counts": (
            result.extracted_rows,
            result.staged_rows,
            result.inserted_rows,
            result.updated_rows,
            result.deleted_rows,
            result.quarantined_rows,
        ),
        "gates": [g.model_dump() for g in result.gates],
        "warnings": result.warnings,
        "state": state,
        "quarantined": project.quarantined(report),
        "target": project.target(),
        "audit": project.audit() if report.passed else None,
    }


def both_ways(
    tmp_path: Path,
    native_off: Callable[[bool], None],
    loads: list[dict[str, pa.Table]],
    *,
    strategy: str = "merge",
    enforcement: str = "quarantine",
    incremental: str = "",
    extra: str = "",
    make: Callable[[Path, str, str, str, str], Project] | None = None,
) -> tuple[list[dict[str, Any]], list[str | None]]:
    """Run ``loads`` (file name -> rows, one dict per run) natively and as Arrow; return the summaries.

    ``make`` builds each of the two projects (default: :class:`Project`, files in a local folder).
    """
    outcomes: dict[bool, list[dict[str, Any]]] = {}
    paths: list[str | None] = []
    for off in (False, True):
        native_off(off)
        folder = tmp_path / ("arrow" if off else "native")
        project = (make or Project)(folder, strategy, enforcement, incremental, extra)
        outcomes[off] = []
        for files in loads:
            for name, table in files.items():
                project.write(name, table)
            report = project.run()
            outcomes[off].append(summary(project, report))
            if not off:
                paths.append(report.result.write_path)
    for native, arrow in zip(outcomes[False], outcomes[True], strict=True):
        assert {k: v for k, v in native.items() if v != arrow[k]} == {k: v for k, v in arrow.items() if v != native[k]}
    return outcomes[False], paths


def test_a_clean_merge_and_reload_match_the_arrow_path(tmp_path: Path, native_off: Callable[[bool], None]) -> None:
    changed = rows(range(0, 1500), amount={3: Decimal("7.50")}, email={10: None})
    loads = [{"a.parquet": rows(range(0, 1000))}, {"a.parquet": changed}]
    done, paths = both_ways(tmp_path, native_off, loads)
    assert paths == ["native", "native"]
    assert done[0]["counts"] == (1000, 1000, 1000, 0, 0, 0)
    assert done[1]["counts"] == (1500, 1500, 500, 2, 0, 0)
    # The new table's key, proven unique by the scan, was added after its first rows: it is there.
    with duckdb.connect(str(tmp_path / "native" / "wh.duckdb")) as con:
        key = "SELECT constraint_column_names FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
        key += "AND table_name = 't'"
        assert con.execute(key).fetchall() == [(["id"],)]
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO t (id) VALUES (1)")
    assert {g["verdict"] for g in done[1]["gates"]} == {"passed"}


def test_snapshot_diff_deletes_what_the_files_no_longer_hold(
    tmp_path: Path, native_off: Callable[[bool], None]
) -> None:
    loads = [{"a.parquet": rows(range(0, 100))}, {"a.parquet": rows(range(50, 120), status={60: "new"})}]
    done, paths = both_ways(tmp_path, native_off, loads, strategy="snapshot_diff")
    assert paths == ["native", "native"]
    assert done[1]["counts"] == (70, 70, 20, 1, 50, 0)


def test_quarantine_splits_the_same_rows_with_the_same_reasons(
    tmp_path: Path, native_off: Callable[[bool], None]
) -> None:
    bad = rows(
        range(0, 400),
        amount={1: Decimal("-1"), 2: Decimal("1000.01"), 3: None},
        status={4: "lost", 5: None, 6: "NEW"},
        email={7: "no at sign", 8: "a@b\nc@d", 9: "ünïcødé@x.io", 10: "toolong@example.io", 11: "é@ü"},
        at={15: None},
    )
    bad = bad.set_column(0, "id", pa.array([None if i == 16 else i for i in range(400)], pa.int64()))
    done, paths = both_ways(tmp_path, native_off, [{"a.parquet": bad}])
    assert paths == ["native"]
    quarantined = {row["id"]: row["__dpone_reason"] for row in done[0]["quarantined"]}
    assert set(quarantined) == {1, 2, 4, 6, 7, 8, 10, None}
    assert quarantined[10] == "email.max_length: must be at most 12 characters"
    assert done[0]["counts"][5] == 8


def test_a_second_file_appends_by_file_state(tmp_path: Path, native_off: Callable[[bool], None]) -> None:
    loads = [
        {"a.parquet": rows(range(0, 100)), "b.parquet": rows(range(100, 250))},
        {"c.parquet": rows(range(250, 260), status={255: "lost"})},
        {},
    ]
    done, paths = both_ways(tmp_path, native_off, loads, strategy="append", incremental=", incremental: {mode: files}")
    assert paths == ["native", "native", "staged"]  # the third run finds no new file: nothing to scan
    assert [d["counts"][0] for d in done] == [250, 10, 0]
    assert len(done[2]["target"]) == 259
    assert done[1]["state"]["extra"] == ["a.parquet", "b.parquet", "c.parquet"]


def test_full_refresh_replaces_the_rows(tmp_path: Path, native_off: Callable[[bool], None]) -> None:
    loads = [{"a.parquet": rows(range(0, 300))}, {"a.parquet": rows(range(100, 200))}]
    done, paths = both_ways(tmp_path, native_off, loads, strategy="full_refresh", enforcement="strict")
    assert paths == ["native", "native"]
    assert done[1]["counts"][:5] == (100, 100, 100, 0, 300)
    assert [r[0] for r in done[1]["target"]] == list(range(100, 200))


def test_a_strict_violation_fails_as_the_arrow_gate_says_and_commits_nothing(
    tmp_path: Path, native_off: Callable[[bool], None]
) -> None:
    loads = [{"a.parquet": rows(range(0, 50))}, {"a.parquet": rows(range(0, 80), status={70: "lost"})}]
    done, paths = both_ways(tmp_path, native_off, loads, enforcement="strict")
    assert paths[0] == "native"
    assert not done[1]["passed"] and "status.allowed" in done[1]["errors"][0]
    assert done[1]["target"] == done[0]["target"]  # nothing of the failed load
    assert done[1]["state"] == {}


def test_a_key_without_a_value_under_off_fails_as_the_arrow_gate_says(
    tmp_path: Path, native_off: Callable[[bool], None]
) -> None:
    keyless = rows(range(0, 20), status={3: "lost"})
    keyless = keyless.set_column(0, "id", pa.array([None if i == 7 else i for i in range(20)], pa.int64()))
    loads = [{"a.parquet": rows(range(0, 20), status={3: "lost"})}, {"a.parquet": keyless}]
    done, paths = both_ways(tmp_path, native_off, loads, enforcement="off")
    assert paths[0] == "native" and done[0]["counts"][0] == 20  # off: the allowed rule is not enforced
    assert not done[1]["passed"] and "id.not_null" in done[1]["errors"][0]


def test_repeated_keys_go_to_the_gates(tmp_path: Path, native_off: Callable[[bool], None]) -> None:
    twice = pa.concat_tables([rows(range(0, 30)), rows(range(20, 25))])
    loads = [{"a.parquet": twice}, {"a.parquet": pa.concat_tables([rows(range(0, 40)), rows(range(5, 6))])}]
    done, paths = both_ways(tmp_path, native_off, loads)
    assert paths == ["staged", "staged"]  # into a new table and into an existing one
    assert [d["counts"][5] for d in done] == [5, 1]


def test_a_bound_over_floats_reads_as_arrow(tmp_path: Path, native_off: Callable[[bool], None]) -> None:
    # DuckDB folds isnan() and comparisons by Parquet statistics that leave NaN out: Arrow judges NaN.
    scores = rows(range(0, 40), score={12: math.nan, 13: -0.5, 14: -0.0})
    done, paths = both_ways(tmp_path, native_off, [{"a.parquet": scores}], extra="score: {min: 0}")
    assert paths == ["direct"]
    assert sorted(row["id"] for row in done[0]["quarantined"]) == [12, 13]


def test_files_whose_types_differ_read_as_arrow(tmp_path: Path, native_off: Callable[[bool], None]) -> None:
    other = rows(range(10, 20)).cast(SCHEMA.set(4, pa.field("score", pa.float32())))
    done, paths = both_ways(tmp_path, native_off, [{"a.parquet": rows(range(0, 10)), "b.parquet": other}])
    assert paths == ["direct"]  # the second file's score is float: the Arrow read converts it
    assert len(done[0]["target"]) == 20


def test_a_declared_type_other_than_the_files_reads_as_arrow(
    tmp_path: Path, native_off: Callable[[bool], None]
) -> None:
    whole = {i: float(i) for i in range(30)}
    scores = rows(range(0, 30), score={**whole, 4: 2.5})  # 2.5 is no int32: the gate's conversion rejects it
    done, paths = both_ways(tmp_path, native_off, [{"a.parquet": scores}], extra="score: {type: int32}")
    assert paths == ["direct"]
    assert [row["id"] for row in done[0]["quarantined"]] == [4]


def test_the_incremental_strategy_by_file_skips_keys_already_loaded(
    tmp_path: Path, native_off: Callable[[bool], None]
) -> None:
    loads = [{"a.parquet": rows(range(0, 100))}, {"b.parquet": rows(range(90, 130))}]
    done, paths = both_ways(
        tmp_path, native_off, loads, strategy="incremental", incremental=", incremental: {mode: files}"
    )
    assert paths == ["native", "native"]
    assert done[1]["counts"][:3] == (40, 40, 30)  # the 10 keys loaded before are skipped


def test_ctrl_c_inside_a_native_load_exits_130_and_commits_nothing(tmp_path: Path) -> None:
    project = Project(tmp_path / "p", "merge", "quarantine")
    project.write("a.parquet", rows(range(0, 50)))
    marker = tmp_path / "paused"
    env = {**os.environ, "DPONE_TEST_PAUSE_AT": "stage", "DPONE_TEST_PAUSE_FILE": str(marker)}
    victim = subprocess.Popen(
        [*CLI, "run", str(project.manifest), "--format", "json"], env=env, stdout=subprocess.PIPE, text=True
    )
    wait_for(marker)  # the view over the file exists, the commit has not begun
    victim.send_signal(signal.SIGINT)
    out, _ = victim.communicate(timeout=60)
    assert victim.returncode == 130, out
    report = json.loads(out)
    assert report["status"] == "interrupted"
    assert [e["code"] for e in report["result"]["errors"]] == ["DPONE_INTERRUPTED"]
    with duckdb.connect(str(project.root / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 't'").fetchone() == (0,)
