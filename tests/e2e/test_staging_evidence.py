"""``dpone ops staging-evidence``: a load's object list checked before a target loads it."""

from __future__ import annotations

import json
from pathlib import Path

import dpone_core
from tests.e2e.conftest import run_cli


def staged(tmp_path: Path) -> Path:
    """A Parquet-table load into a folder; its evidence JSON (which lists the objects written)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "d.csv").write_text("id,v\n1,a\n2,b\n", encoding="utf-8")
    doc = {
        "version": 1,
        "defaults": {"runtime_evidence": {"output_dir": str(tmp_path / "evidence")}},
        "connections": {"inbox": {"type": "files", "root": "in"}, "lake": {"type": "files", "root": "lake"}},
        "processes": [
            {
                "name": "p",
                "source": {"connection": "inbox", "path": "d.csv", "format": "csv"},
                "sink": {"connection": "lake", "table": "raw.t", "format": "parquet", "strategy": "append"},
            }
        ],
    }
    manifest = tmp_path / "m.yaml"
    manifest.write_text(json.dumps(doc), encoding="utf-8")
    report = dpone_core.run(manifest)
    assert report.passed, report.to_text()
    return Path(next(p for p in report.result.evidence_paths if p.endswith(".json")))


def test_a_loads_evidence_passes_and_the_report_is_written(tmp_path: Path) -> None:
    evidence = staged(tmp_path)
    out = tmp_path / "checked"
    args = ["--sink", "duckdb", "--target-table", "raw.t", "--output-dir", str(out), "--format", "json"]
    proc = run_cli("ops", "staging-evidence", "--manifest", str(evidence), *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["passed"] and verdict["objects"] == 1 and verdict["bytes"] > 0
    assert {c["name"]: c["passed"] for c in verdict["checks"]}["local_bytes"]
    assert verdict["load_hint"].startswith('INSERT INTO "raw"."t" SELECT * FROM read_parquet([')
    written = json.loads((out / "staging_evidence.json").read_text())
    assert written["passed"] and "staging_evidence.md" in written["artifacts"]
    assert "PASSED" in (out / "staging_evidence.md").read_text()


def test_changed_bytes_missing_checksums_and_an_empty_list_are_red(tmp_path: Path) -> None:
    evidence = staged(tmp_path)
    doc = json.loads(evidence.read_text())
    data = Path(doc["objects"][0]["uri"].removeprefix("file://"))
    data.write_bytes(data.read_bytes()[:-1] + b"\0")  # same size, other bytes
    proc = run_cli("ops", "staging-evidence", "--manifest", str(evidence))
    assert proc.returncode == 1 and "BAD local_bytes: bytes differ" in proc.stdout, proc.stdout

    doc["objects"][0]["sha256"] = "abc"
    doc["objects"].append({"uri": "s3://bucket/x.parquet", "size_bytes": 0})
    evidence.write_text(json.dumps(doc))
    proc = run_cli("ops", "staging-evidence", "--manifest", str(evidence))
    assert proc.returncode == 1
    assert "BAD sha256: missing or not 64 hex digits" in proc.stdout and "BAD size_bytes" in proc.stdout

    evidence.write_text(json.dumps({"objects": []}))
    proc = run_cli("ops", "staging-evidence", "--manifest", str(evidence))
    assert proc.returncode == 1 and "BAD objects_present: 0 objects" in proc.stdout


def test_an_unreadable_manifest_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = run_cli("ops", "staging-evidence", "--manifest", str(bad))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "is not JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("ops", "staging-evidence", "--manifest", str(tmp_path / "none.json"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_committed_files_lists_the_tables_version_and_refuses_a_database(tmp_path: Path) -> None:
    evidence = staged(tmp_path)
    listed = json.loads(evidence.read_text())["objects"]
    proc = run_cli("ops", "committed-files", str(tmp_path / "m.yaml"), "-s", "p", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [o["uri"] for o in listed]
    doc = json.loads((tmp_path / "m.yaml").read_text())
    doc["connections"]["lake"] = {"type": "duckdb", "path": "wh.duckdb"}
    doc["processes"][0]["sink"] = {"connection": "lake", "table": "t", "strategy": "append"}
    (tmp_path / "m.yaml").write_text(json.dumps(doc))
    proc = run_cli("ops", "committed-files", str(tmp_path / "m.yaml"), "-s", "p")
    assert proc.returncode == 2 and "loads a database table" in proc.stderr
