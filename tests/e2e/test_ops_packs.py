"""``dpone ops`` certification and release commands, end to end on real runs' reports and evidence."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import dpone_core
from benchmarks.results import CaseResult, write_results
from dpone_core.ops import live_certification
from tests.e2e.conftest import run_cli

SECRET = "pack-s3cret-value-42"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ops(*args: str, expect: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``dpone ops <args> --format json``; check the exit code and return the JSON document."""
    proc = run_cli("ops", *args, "--format", "json", env=env)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def bad(*args: str) -> str:
    """Run a command that must be refused: exit 2, one line on stderr, no traceback."""
    proc = run_cli("ops", *args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def load(manifest: Path, name: str, strict: bool = False) -> tuple[Path, dict[str, Any]]:
    """Run the manifest (strict contract: a failed run); its report as a JSON file, and the report."""
    if strict:
        text = manifest.read_text().replace("enforcement: quarantine", "enforcement: strict")
        manifest = manifest.with_name("strict.yaml")
        manifest.write_text(text)
    report = dpone_core.run(manifest)
    assert report.passed is not strict, report.to_text()
    path = manifest.parent / f"{name}.json"
    path.write_text(report.to_json())
    return path, json.loads(path.read_text())


@pytest.fixture()
def run_artifacts(quickstart: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A real quickstart load (with an unused secret-bearing connection): report, evidence, a reconcile."""
    monkeypatch.setenv("PACK_PG_PASSWORD", SECRET)
    text = quickstart.read_text().replace(
        "connections:\n",
        "connections:\n  pg: {type: postgres, database: d, password: '${env:PACK_PG_PASSWORD}'}\n",
    )
    quickstart.write_text(text)
    report, doc = load(quickstart, "run_report")
    evidence = Path(next(p for p in doc["result"]["evidence_paths"] if p.endswith(".json")))
    recon = quickstart.parent / "reconciliation_report.json"
    recon.write_text(json.dumps({"kind": "reconciliation", "passed": True, "mismatch_count": 0}))
    return {"run": report, "evidence": evidence, "reconciliation": recon, "manifest": quickstart}


def pack_args(arts: dict[str, Path], out: Path, *extra: str) -> list[str]:
    names = ("run", "evidence", "reconciliation")
    given = [a for n in names for a in ("--artifact", f"{n}={arts[n]}")]
    required = [a for n in names for a in ("--require", n)]
    return ["certification-pack", "--pack-id", "orders", *given, *required, "--output-dir", str(out), *extra]


def no_secret_in(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_pack_of_a_real_run_is_green_with_coverage_and_checksums_that_verify(
    run_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "pack"
    doc = ops(*pack_args(run_artifacts, out, "--expect-case", "files_to_duckdb__merge"), expect=0)
    assert doc["passed"] and doc["blockers"] == []
    cov = doc["coverage"]
    assert cov["cases"] == ["files_to_duckdb__merge"] and cov["missing"] == []
    assert (cov["sources"], cov["sinks"], cov["strategies"]) == (["files"], ["duckdb"], ["merge"])
    items = {i["name"]: i for i in doc["items"]}
    assert (items["run"]["status"], items["evidence"]["status"], items["reconciliation"]["status"]) == (
        "green",
        "unknown",
        "green",
    )
    for name in ("run", "evidence", "reconciliation"):
        assert items[name]["sha256"] == sha(run_artifacts[name])
    written = json.loads((out / "connector_certification_pack.json").read_text())
    md = out / "connector_certification_pack.md"
    assert written["artifacts"] == {md.name: sha(md)} and "**GREEN**" in md.read_text()
    assert doc["written"] == [str(out / "connector_certification_pack.json"), str(md)]
    no_secret_in(out)
    no_secret_in(run_artifacts["manifest"].parent / ".dpone")


def test_missing_tampered_failed_and_red_artifacts_block_the_pack(
    run_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    arts = run_artifacts
    out = tmp_path / "pack"
    # A required artifact that is not there.
    missing = {**arts, "reconciliation": tmp_path / "gone.json"}
    doc = ops(*pack_args(missing, out), expect=1)
    assert doc["blockers"] == ["artifact reconciliation: missing (file not found)"]
    # A required name never given.
    doc = ops(*pack_args(arts, out, "--require", "observability"), expect=1)
    assert doc["blockers"] == ["artifact observability: required but not given"]
    # The run report edited after its checksum was pinned.
    pinned = {**arts, "run": Path(f"{arts['run']}#{sha(arts['run'])}")}
    ops(*pack_args(pinned, out), expect=0)
    arts["run"].write_text(arts["run"].read_text().replace('"inserted_rows": 3835', '"inserted_rows": 3836'))
    doc = ops(*pack_args(pinned, out), expect=1)
    assert doc["blockers"][0].startswith("artifact run: tampered (sha256 ")
    # The quarantine file changed after the evidence recorded its sha256.
    quarantine = next(Path(a["path"]) for a in json.loads(arts["evidence"].read_text())["artifacts"])
    quarantine.write_bytes(quarantine.read_bytes() + b"x")
    doc = ops(*pack_args(arts, out), expect=1)
    assert doc["blockers"] == [
        f"artifact evidence: tampered ({quarantine} changed after the report was written (sha256 differs))"
    ]


def test_a_failed_run_and_a_red_reconciliation_block_and_their_cases_are_not_covered(
    quickstart: Path, tmp_path: Path
) -> None:
    failed, doc = load(quickstart, "failed_run", strict=True)
    assert doc["status"] == "failed"
    recon = tmp_path / "reconciliation_report.json"
    recon.write_text(json.dumps({"kind": "reconciliation", "passed": False, "mismatch_count": 3}))
    args = ["--artifact", f"run={failed}", "--artifact", f"reconciliation={recon}", "--require", "run"]
    out = tmp_path / "pack"
    result = ops(
        "certification-pack",
        "--pack-id",
        "x",
        *args,
        "--require",
        "reconciliation",
        "--output-dir",
        str(out),
        "--expect-case",
        "files_to_duckdb__merge",
        expect=1,
    )
    assert result["blockers"] == [
        "artifact run: red",
        "artifact reconciliation: red",
        "case files_to_duckdb__merge: expected but not covered",
    ]
    # A run that fails before it connects names no source or target, so it covers nothing.
    assert result["coverage"]["cases"] == []
    proc = run_cli("ops", "certification-pack", "--pack-id", "x", *args, "--output-dir", str(out))
    assert proc.returncode == 1 and "BLOCKER artifact run: red" in proc.stdout and proc.stdout.endswith("RED\n")
    assert "**RED**" in (out / "connector_certification_pack.md").read_text()


def test_coverage_comes_from_case_ids_in_reports_and_benchmark_results(tmp_path: Path) -> None:
    report = tmp_path / "certification_report.json"
    cases = [
        {"case_id": "postgres_to_mssql__incremental_merge", "status": "passed"},
        {"case_id": "s3_to_duckdb__append", "status": "failed"},
        {"case_id": "not a case id", "status": "passed"},
    ]
    report.write_text(json.dumps({"kind": "certification_report", "cases": cases}))
    results = write_results(tmp_path / "bench.json", [CaseResult("files_to_duckdb__full_refresh@1000", 1000, 0.5)])
    args = ["--artifact", f"certification_report={report}", "--artifact", f"bench={results}"]
    expect = ["--expect-case", "postgres_to_mssql__incremental_merge", "--expect-case", "s3_to_duckdb__append"]
    doc = ops("certification-pack", "--pack-id", "m", *args, *expect, "--output-dir", str(tmp_path / "o"), expect=1)
    cov = doc["coverage"]
    assert cov["cases"] == ["files_to_duckdb__full_refresh", "postgres_to_mssql__incremental_merge"]
    assert cov["failed_cases"] == ["s3_to_duckdb__append"]
    assert cov["sources"] == ["files", "postgres"] and cov["sinks"] == ["duckdb", "mssql"]
    assert cov["strategies"] == ["full_refresh", "incremental_merge"]
    assert doc["blockers"] == ["case s3_to_duckdb__append: expected but not covered"]


def gate(tmp_path: Path, metrics: Any, baseline: Any, objectives: Any, expect: int) -> dict[str, Any]:
    args = ["--metrics-json", metrics if isinstance(metrics, str) else json.dumps(metrics)]
    args += ["--baseline-json", json.dumps(baseline), "--objectives-json", json.dumps(objectives)]
    return ops("benchmark-slo-gate", *args, "--output-dir", str(tmp_path / "slo"), expect=expect)


def test_slo_gate_directions_tolerance_and_objectives(tmp_path: Path) -> None:
    metrics = {"throughput_rows_per_second": 120000, "freshness_lag_seconds": 120, "peak_rss_mb": 400}
    base = {
        "throughput_rows_per_second": {"value": 100000, "direction": "higher"},
        "peak_rss_mb": {"value": 380, "direction": "lower", "tolerance": 0.1},
    }
    doc = gate(tmp_path, metrics, base, {"freshness_lag_seconds": {"max": 300}}, expect=0)
    assert [c["passed"] for c in doc["checks"]] == [True, True, True]
    # 400 MB is within 10% of 380; 430 is not. 90k rows/s is below the baseline (no tolerance).
    worse = {**metrics, "throughput_rows_per_second": 90000, "peak_rss_mb": 430}
    doc = gate(tmp_path, worse, base, {"freshness_lag_seconds": {"min": 150, "max": 300}}, expect=1)
    assert doc["blockers"] == [
        "baseline throughput_rows_per_second: 90000 vs baseline 100000 (-10.0%), needs at least 100000",
        "baseline peak_rss_mb: 430 vs baseline 380 (+13.2%), needs at most 418",
        "objective freshness_lag_seconds: 120, min 150",
    ]
    doc = gate(tmp_path, metrics, {"error_rate": {"value": 0, "direction": "lower"}}, {}, expect=1)
    assert doc["blockers"] == ["baseline error_rate: metric missing"]
    md = (tmp_path / "slo" / "benchmark_slo_gate.md").read_text()
    assert "| error_rate | baseline | FAIL | metric missing |" in md


def test_slo_gate_reads_a_benchmark_results_file(tmp_path: Path) -> None:
    case = "files_to_duckdb__full_refresh@1000000"
    results = write_results(
        tmp_path / "r.json", [CaseResult(case, 1_000_000, 2.0, ratio_to_raw=0.8, peak_rss_mb=300.0, bytes=5_000_000)]
    )
    written = json.loads(results.read_text())
    assert written["kind"] == "benchmark_results" and written["cases"][0]["rows_per_second"] == 500000.0
    baseline = {f"{case}.rows_per_second": 520000, f"{case}.ratio_to_raw": {"value": 0.75, "direction": "higher"}}
    objectives = {f"{case}.peak_rss_mb": {"max": 512}}
    doc = gate(tmp_path, f"@{results}", {**baseline, f"{case}.rows_per_second": 480000}, objectives, expect=0)
    assert doc["metrics"][f"{case}.rows_per_second"] == 500000.0 and len(doc["checks"]) == 3
    # A bare baseline number: rows_per_second is better higher, so 500k against 520k is red.
    doc = gate(tmp_path, f"@{results}", baseline, objectives, expect=1)
    assert doc["blockers"] == [
        f"baseline {case}.rows_per_second: 500000 vs baseline 520000 (-3.8%), needs at least 520000"
    ]


def test_slo_gate_bad_input_is_exit_2(tmp_path: Path) -> None:
    out = ["--output-dir", str(tmp_path / "o")]
    assert "is not JSON" in bad("benchmark-slo-gate", "--metrics-json", "{nope", *out)
    assert "cannot read" in bad("benchmark-slo-gate", "--metrics-json", f"@{tmp_path / 'none.json'}", *out)
    err = bad("benchmark-slo-gate", "--metrics-json", '{"x": 1}', "--baseline-json", '{"x": 1}', *out)
    assert "direction must be higher or lower" in err
    assert "needs min or max" in bad(
        "benchmark-slo-gate", "--metrics-json", "{}", "--objectives-json", '{"x": {}}', *out
    )


def test_live_plan_lists_the_services_and_ships_a_compose_file(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    doc = ops(
        "live-certification-plan", "--profile", "local_live", "--row-count", "1000", "--output-dir", str(out), expect=0
    )
    services = {s["name"]: s for s in doc["services"]}
    assert set(services) == {"postgres", "s3", "clickhouse", "kafka"}
    assert "pg_ctl" in services["postgres"]["start"] and "moto_server" in services["s3"]["start"]
    assert "tests.integration.clickhouse.chshim" in services["clickhouse"]["start"]
    assert "tansu broker" in services["kafka"]["start"] and not services["kafka"]["required"]
    assert all(services[n]["available"] for n in ("postgres", "s3", "clickhouse"))
    assert "benchmarks/files_to_duckdb.py --rows 1000" in [c["run"] for c in doc["cases"]][-1]
    compose = out / "docker-compose.integration.yml"
    assert doc["compose"]["sha256"] == sha(compose)
    spec = yaml.safe_load(compose.read_text())
    assert set(spec["services"]) == {"postgres", "clickhouse", "redpanda", "minio", "mssql"}
    assert "${DPONE_IT_PASSWORD:?" in compose.read_text()
    real = ops("live-certification-plan", "--profile", "real_local", "--output-dir", str(out), expect=0)
    assert {"pg_to_pg_benchmark", "release_chain"} <= {c["name"] for c in real["cases"]}
    assert "is not one of" in run_cli("ops", "live-certification-plan", "--profile", "x", "--output-dir", "o").stderr


def test_live_plan_is_red_when_a_service_cannot_start_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_certification, "_available", lambda name: name != "postgres")
    report = live_certification.live_certification_plan("local_live")
    assert not report.passed and report.blockers[0].startswith("service postgres: not available here; needs initdb")


def test_release_evidence_pack_requires_the_profiles_artifacts(run_artifacts: dict[str, Path], tmp_path: Path) -> None:
    pack = tmp_path / "cert"
    ops(*pack_args(run_artifacts, pack), expect=0)
    slo = tmp_path / "slo"
    ops(
        "benchmark-slo-gate",
        "--metrics-json",
        '{"lag_seconds": 1}',
        "--objectives-json",
        '{"lag_seconds": {"max": 5}}',
        "--output-dir",
        str(slo),
        expect=0,
    )
    given = ["--artifact", f"certification_pack={pack / 'connector_certification_pack.json'}"]
    given += ["--artifact", f"reconciliation={run_artifacts['reconciliation']}"]
    args = ["release-evidence-pack", "--release", "v0.7.1", "--profile", "real_local", *given]
    doc = ops(*args, expect=1)
    assert doc["decision"] == "no-go" and doc["blockers"] == ["artifact slo_gate: required but not given"]
    out = tmp_path / "release"
    doc = ops(*args, "--artifact", f"slo_gate={slo / 'benchmark_slo_gate.json'}", "--output-dir", str(out), expect=0)
    assert doc["decision"] == "go" and {i["kind"] for i in doc["items"]} == {
        "certification_pack",
        "benchmark_slo_gate",
        "reconciliation",
    }
    # The certification pack's Markdown edited: its JSON names the old sha256, so the pack is tampered.
    md = pack / "connector_certification_pack.md"
    md.write_text(md.read_text() + "\nall fine\n")
    doc = ops(*args, "--artifact", f"slo_gate={slo / 'benchmark_slo_gate.json'}", expect=1)
    assert doc["blockers"][0].startswith("artifact certification_pack: tampered (connector_certification_pack.md")


def test_evidence_bundle_copies_a_runs_files_with_checksums(run_artifacts: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "incident-42"
    args = ["evidence-bundle", "--artifact", f"run={run_artifacts['run']}", "--output-dir", str(out)]
    doc = ops(*args, expect=0)
    files = {f["name"]: f for f in doc["files"]}
    assert doc["bundle_id"] == "incident-42" and files["run"]["status"] == "green"
    assert {"run/data_contract_evidence.json", "run/data_contract_evidence.md"} <= set(files)
    assert any(n.endswith(".parquet") for n in files)
    for entry in doc["files"]:
        assert entry["sha256"] == sha(Path(entry["source"])) == sha(out / entry["bundled"])
    no_secret_in(out)
    ref = ops(*args, "--mode", "reference", "--artifact", f"gone={tmp_path / 'x.log'}", expect=1)
    assert ref["blockers"] == ["file gone: missing (file not found)"]
    assert all(f["bundled"] is None for f in ref["files"])
    assert "unique" in bad("evidence-bundle", "--artifact", "a=x", "--artifact", "a=y", "--output-dir", str(out))


def release_config(tmp_path: Path, arts: dict[str, Path], expect_case: str) -> Path:
    (tmp_path / "bench.json").write_text(json.dumps({"rows_per_second": 1000}))
    config = {
        "release": "v0.8.0",
        "profile": "real_local",
        "certification_pack": {
            "artifacts": {"run": str(arts["run"]), "evidence": str(arts["evidence"])},
            "require": ["run"],
            "expect_cases": [expect_case],
        },
        "slo_gate": {"metrics": "bench.json", "baseline": {"rows_per_second": {"value": 900, "tolerance": 0.05}}},
        "release_evidence": {"artifacts": {"reconciliation": str(arts["reconciliation"])}},
    }
    path = tmp_path / "release.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_release_orchestrator_chains_the_steps_to_go_or_no_go(run_artifacts: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "decision"
    config = release_config(tmp_path, run_artifacts, "files_to_duckdb__merge")
    doc = ops("release-orchestrator", "--config", str(config), "--output-dir", str(out), expect=0)
    assert doc["decision"] == "go" and [s["step"] for s in doc["steps"]] == [
        "certification_pack",
        "slo_gate",
        "release_evidence",
    ]
    for step in doc["steps"]:
        assert step["status"] == "green" and step["sha256"] == sha(Path(step["report"]))
    assert (out / "release_decision.md").read_text().startswith("# Release v0.8.0 (real_local): GO")
    config = release_config(tmp_path, run_artifacts, "postgres_to_duckdb__merge")
    doc = ops("release-orchestrator", "--config", str(config), "--output-dir", str(out), expect=1)
    assert doc["decision"] == "no-go"
    assert doc["blockers"] == [
        "certification_pack: case postgres_to_duckdb__merge: expected but not covered",
        "release_evidence: artifact certification_pack: red",
    ]
    # Without a config, the given artifacts are judged as they are.
    pack = f"certification_pack={out / 'certification-pack' / 'connector_certification_pack.json'}"
    doc = ops(
        "release-orchestrator",
        "--release",
        "v0.8.0",
        "--profile",
        "local_live",
        "--artifact",
        pack,
        "--output-dir",
        str(tmp_path / "d2"),
        expect=1,
    )
    assert doc["blockers"] == ["release_evidence: artifact certification_pack: red"]
    config.write_text("release: v1\ncertification_pack: {}\nbogus: 1\n")
    assert "unknown keys bogus" in bad("release-orchestrator", "--config", str(config), "--output-dir", str(out))


def test_malformed_artifacts_are_exit_2(tmp_path: Path) -> None:
    out = ["--output-dir", str(tmp_path / "o")]
    assert "is not NAME=PATH" in bad("certification-pack", "--pack-id", "p", "--artifact", "nopath", *out)
    err = bad("certification-pack", "--pack-id", "p", "--artifact", "a=x.json", "--artifact", "a=y.json", *out)
    assert "--artifact a is given twice" in err
