"""``dpone ops run-registry``, ``dpone ops runs`` and ``dpone run-report`` on real DuckDB loads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dpone_core
from dpone_core.durable import sha256_file
from dpone_core.ops.run_registry import build_entry, parse_result
from dpone_core.orchestration import (
    LocalJobStateStore,
    LocalRunLockManager,
    OrchestratedRunRequest,
    OrchestratedRunService,
)
from tests.e2e.conftest import run_cli

CSV = "id,v\n1,a\n2,b\n-3,c\n"
ONE = """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: merge, primary_key: [id]}
  schema_contract:
    enforcement: quarantine
    columns:
      id: {type: int64, min: 0}
"""
TWO = (
    ONE
    + """
- name: q
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: u, strategy: full_refresh}
"""
)
STRICT = ONE.replace("enforcement: quarantine", "enforcement: strict")


def _result_file(report: dpone_core.RunReport, folder: Path, name: str = "run_result.json") -> Path:
    path = folder / name
    path.write_text(report.to_json(), encoding="utf-8")
    return path


def _registry(*args: str, expect: int) -> dict[str, Any]:
    done = run_cli("ops", "run-registry", *args, "--format", "json")
    assert done.returncode == expect, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def test_registry_entry_records_artifacts_with_checksums_that_verify(
    project: Callable[..., Path], tmp_path: Path
) -> None:
    manifest = project(CSV, ONE)
    report = dpone_core.run(manifest, run_id="r1")
    assert report.passed and report.result.quarantined_rows == 1
    out = tmp_path / "registry"
    entry = _registry("--run-result", str(_result_file(report, tmp_path)), "--output-dir", str(out), expect=0)
    assert entry["passed"] and entry["run"]["run_id"] == "r1" and entry["run"]["status"] == "succeeded"
    assert entry["run"]["counts"]["quarantined"] == 1 and entry["run"]["source_kind"] == "run"
    kinds = sorted(a["kind"] for a in entry["registered_artifacts"])
    assert kinds == ["evidence", "evidence", "quarantine"]
    for artifact in entry["registered_artifacts"]:
        assert artifact["status"] == "ok" and artifact["sha256"] == sha256_file(Path(artifact["path"]))
    written = out / "r1__run_registry.json"
    assert sorted(entry["written"]) == sorted([str(written), str(out / "r1__run_registry.md")])
    assert json.loads(written.read_text())["artifacts"]["r1__run_registry.md"] == sha256_file(
        out / "r1__run_registry.md"
    )
    assert _registry("--verify", str(written), expect=0)["passed"]


def test_a_missing_artifact_is_a_blocker(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project(CSV, ONE)
    report = dpone_core.run(manifest, run_id="r1")
    Path(report.result.quarantine_paths[0]).unlink()
    entry = _registry("--run-result", str(_result_file(report, tmp_path)), "--output-dir", str(tmp_path), expect=1)
    assert [b.split(":")[0] for b in entry["blockers"]] == ["artifact.missing"]
    assert (tmp_path / "r1__run_registry.json").is_file()  # a red entry is still recorded


def test_a_tampered_file_is_detected_at_registration_and_after(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project(CSV, ONE)
    report = dpone_core.run(manifest, run_id="r1")
    result = _result_file(report, tmp_path)
    quarantine = Path(report.result.quarantine_paths[0])
    original = quarantine.read_bytes()
    quarantine.write_bytes(original + b"x")
    entry = _registry("--run-result", str(result), "--output-dir", str(tmp_path / "a"), expect=1)
    assert any(b.startswith("artifact.tampered: quarantine") for b in entry["blockers"]), entry["blockers"]
    quarantine.write_bytes(original)
    entry = _registry("--run-result", str(result), "--output-dir", str(tmp_path / "b"), expect=0)
    markdown = Path(report.result.evidence_paths[1])
    markdown.write_text(markdown.read_text() + "edited\n")
    verified = _registry("--verify", str(tmp_path / "b" / "r1__run_registry.json"), expect=1)
    assert verified["blockers"] == [f"artifact.tampered: {markdown} changed after it was registered"]


def test_a_failed_run_is_recorded_red(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project(CSV, STRICT)
    report = dpone_core.run(manifest, run_id="bad")
    assert not report.passed
    entry = _registry("--run-result", str(_result_file(report, tmp_path)), "--output-dir", str(tmp_path), expect=1)
    assert entry["run"]["status"] == "failed" and not entry["run"]["passed"]
    assert entry["blockers"][0].startswith("run.red: run bad ended failed: [DPONE_CONTRACT_VIOLATION]")
    assert json.loads((tmp_path / "bad__run_registry.json").read_text())["status"] == "red"


def test_orchestrated_airflow_and_dagster_results_are_read(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project(CSV, ONE)
    service = OrchestratedRunService(LocalRunLockManager(tmp_path / "locks"), LocalJobStateStore(tmp_path / "st"))
    orchestrated = service.run(OrchestratedRunRequest(str(manifest), run_id="o1"), output_dir=tmp_path / "orch")
    record = parse_result(json.loads(orchestrated.to_json()))
    assert (record.source_kind, record.run_id, record.status, record.passed) == (
        "orchestrated_run",
        "o1",
        "committed",
        True,
    )
    assert {k for k, _ in record.named} == {"evidence", "quarantine", "orchestrated_run", "job_state"}
    report = dpone_core.run(manifest, run_id="x1", restart=True)
    xcom = {**report.summary(), "target": report.result.target, "partition": None, "phase": "load"}
    assert parse_result(xcom).source_kind == "airflow_xcom" and parse_result(xcom).load_id == report.load_id
    dagster = {
        "dpone/status": "succeeded",
        "dpone/run_id": "x1",
        "dpone/evidence_paths": {"value": [report.result.evidence_paths[0]]},
    }
    found = parse_result(dagster)
    assert (found.source_kind, found.run_id, found.passed, found.named[0][0]) == ("dagster", "x1", True, "evidence")
    path = tmp_path / "xcom.json"
    path.write_text(json.dumps(xcom))
    assert build_entry(path).passed


@pytest.mark.parametrize(
    "content", [None, "not json", "[1, 2]", '{"hello": 1}'], ids=["missing", "not-json", "array", "not-a-result"]
)
def test_unreadable_input_exits_2_without_traceback(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    done = run_cli("ops", "run-registry", "--run-result", str(path), "--output-dir", str(tmp_path / "o"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def test_runs_lists_both_processes_with_filters(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project(CSV, TWO)
    for run_id in ("r1", "r2"):
        for name in ("p", "q"):
            assert dpone_core.run(manifest, name, run_id=run_id).passed
    done = run_cli("ops", "runs", str(manifest), "--format", "json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["kind"] == "runs" and listing["passed"]
    assert sorted((r["process"], r["run_id"]) for r in listing["runs"]) == [
        ("p", "r1"), ("p", "r2"), ("q", "r1"), ("q", "r2"),
    ]  # fmt: skip
    first = listing["runs"][0]
    assert set(first) >= {"process", "run_id", "status", "load_id", "rows", "started_at", "finished_at", "target"}
    assert first["status"] == "committed" and first["finished_at"] >= listing["runs"][-1]["finished_at"]
    only_q = json.loads(run_cli("ops", "runs", str(manifest), "-s", "q", "--since", "24h", "--format", "json").stdout)
    assert {r["process"] for r in only_q["runs"]} == {"q"} and len(only_q["runs"]) == 2
    future = json.loads(run_cli("ops", "runs", str(manifest), "--since", "2999-01-01", "--format", "json").stdout)
    assert future["runs"] == []
    failed = json.loads(run_cli("ops", "runs", str(manifest), "--status", "failed", "--format", "json").stdout)
    assert failed["runs"] == []
    text = run_cli("ops", "runs", str(manifest))
    assert text.returncode == 0 and "4 runs" in text.stdout and text.stdout.splitlines()[0].startswith("finished_at")


def test_runs_of_a_run_id_and_job_states(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project(CSV, ONE)
    assert dpone_core.run(manifest, run_id="r1").passed
    one = run_cli("ops", "runs", str(manifest), "--run-id", "r1", "--format", "json")
    assert one.returncode == 0 and [r["run_id"] for r in json.loads(one.stdout)["runs"]] == ["r1"]
    missing = run_cli("ops", "runs", str(manifest), "--run-id", "nope")
    assert missing.returncode == 1 and "runs.not_found" in missing.stdout
    manifest.write_text(manifest.read_text().replace("enforcement: quarantine", "enforcement: strict"))
    service = OrchestratedRunService(LocalRunLockManager(tmp_path / "locks"), LocalJobStateStore(tmp_path / "st"))
    service.run(OrchestratedRunRequest(str(manifest), run_id="f1"))
    failed = run_cli(
        "ops", "runs", str(manifest), "--state-dir", str(tmp_path / "st"), "--status", "failed", "--format", "json"
    )
    assert [(r["run_id"], r["origin"]) for r in json.loads(failed.stdout)["runs"]] == [("f1", "job_state")]
    bad = run_cli("ops", "runs", str(manifest), "--since", "yesterday")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--since" in bad.stderr
    assert run_cli("ops", "runs", str(tmp_path / "absent.yaml")).returncode == 2


def test_run_report_round_trip(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project(CSV, ONE)
    original = dpone_core.run(manifest, run_id="r1")
    out = tmp_path / "reports"
    done = run_cli(
        "run-report", str(manifest), "--pipeline", "p", "--run-id", "r1", "--output-dir", str(out), "--format", "json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rebuilt = dpone_core.RunReport.model_validate_json(done.stdout)
    same = ("passed", "status", "process", "run_id", "load_id", "strategy", "manifest_sha256")
    assert [getattr(rebuilt, f) for f in same] == [getattr(original, f) for f in same]
    fields = ("inserted_rows", "quarantined_rows", "evidence_paths", "quarantine_paths", "gates", "ddl", "state_after")
    assert [getattr(rebuilt.result, f) for f in fields] == [getattr(original.result, f) for f in fields]
    written = out / "r1__run_result.json"
    assert json.loads(written.read_text()) == json.loads(done.stdout) and (out / "r1__run_result.md").is_file()
    assert _registry("--run-result", str(written), "--output-dir", str(tmp_path / "reg"), expect=0)["passed"]
    unknown = run_cli("run-report", str(manifest), "--run-id", "nope")
    assert unknown.returncode == 1 and "run.not_committed" in unknown.stderr
    evidence = Path(original.result.evidence_paths[0])
    evidence.write_text(evidence.read_text().replace('"merge"', '"append"'))
    tampered = run_cli("run-report", str(manifest), "--run-id", "r1")
    assert tampered.returncode == 1 and "evidence.tampered" in tampered.stderr
    assert run_cli("run-report", str(tmp_path / "absent.yaml"), "--run-id", "r1").returncode == 2
