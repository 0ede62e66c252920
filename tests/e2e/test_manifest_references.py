"""``${env:}`` / ``${file:}`` outside connection profiles: resolved in paths and params, refused elsewhere."""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
import pytest

import dpone_core
from dpone_core.errors import ManifestError

MANIFEST = """
version: 1
defaults:
  runtime_evidence: {{output_dir: "${{env:DPONE_T_OUT}}/evidence"}}
  quarantine: {{dir: "${{env:DPONE_T_OUT}}/quarantine"}}
connections:
  inbox: {{type: files, root: in}}
  wh: {{type: duckdb, path: wh.duckdb}}
processes:
  - name: p
    source: {{connection: inbox, path: "${{file:which.txt}}.csv", format: csv}}
    sink: {{connection: wh, table: {table}, strategy: append}}
    schema_contract:
      enforcement: quarantine
      columns: {{v: {{type: string, allowed: [a, b]}}}}
  - name: q
    source:
      connection: wh
      query: "SELECT * FROM t WHERE v = :v"
      params: {{v: "${{env:DPONE_T_V}}"}}
    sink: {{connection: wh, table: picked, strategy: append}}
"""


def _project(tmp_path: Path, table: str = "t") -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "orders.csv").write_text("id,v\n1,a\n2,b\n3,zz\n", encoding="utf-8")
    (tmp_path / "which.txt").write_text("orders\n", encoding="utf-8")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(textwrap.dedent(MANIFEST.format(table=table)), encoding="utf-8")
    return manifest


def test_paths_and_params_resolve_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("DPONE_T_OUT", str(out))
    monkeypatch.setenv("DPONE_T_V", "b")
    manifest = _project(tmp_path)
    report = dpone_core.run(manifest, "p")
    assert report.passed, report.to_text()
    assert report.result.inserted_rows == 2 and report.result.quarantined_rows == 1
    assert all(Path(p).is_relative_to(out / "evidence") and Path(p).exists() for p in report.result.evidence_paths)
    assert [Path(p).parent for p in report.result.quarantine_paths] == [out / "quarantine" / "p"]
    assert not [p for p in tmp_path.rglob("*") if "${" in p.name]  # never a folder named after the reference
    assert dpone_core.run(manifest, "q").passed
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT id, v FROM picked").fetchall() == [(2, "b")]


def test_a_missing_variable_fails_naming_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DPONE_T_OUT", raising=False)
    report = dpone_core.run(_project(tmp_path), "p")
    assert report.exit_code == 2
    line = report.result.errors[0].line
    assert "DPONE_CONFIGURATION" in line and "DPONE_T_OUT is not set" in line
    assert "quarantine.dir" in line or "runtime_evidence.output_dir" in line
    assert not [p for p in tmp_path.rglob("*") if "${" in p.name]


def test_a_reference_where_none_is_resolved_is_refused(tmp_path: Path) -> None:
    manifest = _project(tmp_path, table='"${env:DPONE_T_TABLE}"')
    with pytest.raises(ManifestError, match=r"processes\[0\] \(p\)\.sink\.table: .*references are resolved only"):
        dpone_core.validate(manifest)
