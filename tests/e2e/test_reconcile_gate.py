"""The reconcile gate on DuckDB (in the finalize transaction) and its manifest rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import dpone_core
from tests.e2e.conftest import query


def _manifest(tmp_path: Path, csv: str, reconcile: dict[str, Any], strategy: str = "merge", **source: Any) -> Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "d.csv").write_text(csv, encoding="utf-8")
    doc = {
        "version": 1,
        "connections": {"inbox": {"type": "files", "root": "in"}, "wh": {"type": "duckdb", "path": "wh.duckdb"}},
        "processes": [{
            "name": "p",
            "source": {"connection": "inbox", "path": "d.csv", "format": "csv", **source},
            "sink": {"connection": "wh", "table": "t", "strategy": strategy, "primary_key": ["id"]},
            "reconcile": reconcile,
            "schema_contract": {"enforcement": "quarantine", "columns": {
                "id": {"type": "int64"}, "v": {"type": "string", "allowed": ["a", "b", "c"]}, "n": {"type": "int64"}}},
        }],
    }  # fmt: skip
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _verdict(report: dpone_core.RunReport) -> Any:
    [verdict] = [g for g in report.result.gates if g.gate == "reconcile"]
    return verdict


@pytest.mark.parametrize("mode", ["count", "checksum", "rows"])
def test_a_file_source_reconciles_with_quarantined_rows_expected_missing(tmp_path: Path, mode: str) -> None:
    m = _manifest(tmp_path, "id,v,n\n1,a,1\n2,b,2\n3,zz,3\n", {"mode": mode}, incremental={"cursor": "n"})
    report = dpone_core.run(m)
    assert report.passed, report.to_text()
    verdict = _verdict(report)
    assert verdict.verdict == "passed" and "1" in verdict.detail and "quarantined" in verdict.detail
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM t") == [(2,)]


def test_full_refresh_must_match_exactly(tmp_path: Path) -> None:
    m = _manifest(tmp_path, "id,v,n\n1,a,1\n2,b,2\n", {"mode": "rows"}, "full_refresh")
    report = dpone_core.run(m)
    assert report.passed and _verdict(report).verdict == "passed"
    assert "source 2 rows, target 2" in _verdict(report).detail


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sink": {"primary_key": [], "strategy": "full_refresh"}}, "reconcile compares rows by key"),
        ({"source": {"incremental": {"mode": "files"}}}, "incremental mode files has none"),
    ],
)
def test_the_manifest_refuses_a_reconcile_it_cannot_run(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    m = _manifest(tmp_path, "id,v,n\n1,a,1\n", {"mode": "count"})
    doc = yaml.safe_load(m.read_text())
    for part, values in change.items():
        doc["processes"][0][part].update(values)
    m.write_text(yaml.safe_dump(doc), encoding="utf-8")
    report = dpone_core.run(m)
    assert not report.passed and report.result.errors[0].code == "DPONE_MANIFEST_INVALID"
    assert message in report.result.errors[0].message


def test_a_parquet_table_is_reconciled_on_its_next_versions_files_before_the_commit(tmp_path: Path) -> None:
    m = _manifest(tmp_path, "id,v,n\n1,a,1\n2,b,2\n", {"mode": "rows"}, "append", incremental={"cursor": "n"})
    doc = yaml.safe_load(m.read_text())
    doc["connections"]["lake"] = {"type": "files", "root": "lake"}
    doc["processes"][0]["sink"] = {"connection": "lake", "table": "raw.t", "format": "parquet", "strategy": "append",
                                   "primary_key": ["id"]}  # fmt: skip
    m.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert _verdict(dpone_core.run(m)).verdict == "passed"
    (tmp_path / "in" / "d.csv").write_text("id,v,n\n1,a,1\n2,b,2\n3,c,3\n", encoding="utf-8")
    verdict = _verdict(dpone_core.run(m))
    assert verdict.verdict == "passed" and "source 1 rows, target 1" in verdict.detail  # the window only


def _delta(tmp_path: Path, strategy: str) -> Path:
    m = _manifest(tmp_path, "id,v,n\n1,a,1\n2,b,2\n", {"mode": "rows"}, strategy, incremental={"cursor": "n"})
    doc = yaml.safe_load(m.read_text())
    doc["connections"]["lake"] = {"type": "files", "root": "lake"}
    doc["processes"][0]["sink"] = {"connection": "lake", "table": "raw.t", "format": "delta", "strategy": strategy,
                                   "primary_key": ["id"]}  # fmt: skip
    m.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return m


@pytest.mark.parametrize("strategy", ["append", "merge"])
def test_a_delta_table_is_reconciled_on_the_staged_rows_before_its_commit(tmp_path: Path, strategy: str) -> None:
    pytest.importorskip("deltalake")
    verdict = _verdict(dpone_core.run(_delta(tmp_path, strategy)))
    assert verdict.verdict == "passed", verdict.detail
    assert "source 2 rows, target 2" in verdict.detail and "target side: the load's staged rows" in verdict.detail


def test_a_red_verdict_on_delta_commits_neither_rows_nor_state(tmp_path: Path) -> None:
    """A late row lands in the window after the read: the staged rows miss it, and nothing is committed."""
    deltalake = pytest.importorskip("deltalake")
    from dpone_core.checkpoints import listen

    m = _delta(tmp_path, "append")
    assert dpone_core.run(m).passed
    source = tmp_path / "in" / "d.csv"
    source.write_text("id,v,n\n1,a,1\n2,b,2\n3,c,3\n", encoding="utf-8")

    def late_row(name: str) -> None:
        if name == "finalize":
            source.write_text(source.read_text(encoding="utf-8") + "4,a,3\n", encoding="utf-8")

    stop = listen(late_row)
    try:
        report = dpone_core.run(m)
    finally:
        stop()
    assert not report.passed and report.result.errors[0].code == "DPONE_RECONCILE_FAILED"
    assert "1 missing" in _verdict(report).detail and "insert_target_row {'id': '4'}" in _verdict(report).detail
    table = deltalake.DeltaTable(str(tmp_path / "lake" / "raw" / "t"))
    assert table.version() == 0 and table.to_pyarrow_table().num_rows == 2  # the first load only
    assert dpone_core.states(m)["p"]["cursor_value"] == '{"kind": "int", "value": "2"}'  # not advanced
