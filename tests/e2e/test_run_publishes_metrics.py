"""A run writes its own metrics (``--metrics-dir`` or the manifest's ``observability:`` block)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import dpone_core
from tests.e2e.conftest import run_cli


def _samples(prom: Path) -> dict[str, float]:
    """``name{step=...}`` -> value of the exposition (the run labels are the same on every sample)."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(prom.read_text(encoding="utf-8")):
        for sample in family.samples:
            step = sample.labels.get("step")
            found[sample.name + (f"[{step}]" if step else "")] = sample.value
    return found


def _with_observability(manifest: Path, block: str) -> None:
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace("processes:\n", f"observability: {block}\nprocesses:\n", 1), encoding="utf-8")


def test_dpone_run_metrics_dir_writes_the_runs_numbers(quickstart: Path, tmp_path: Path) -> None:
    out = tmp_path / "metrics"
    proc = run_cli("run", str(quickstart), "--format", "json", "--metrics-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["result"]["warnings"] == []
    samples = _samples(out / "orders" / "runtime_metrics.prom")
    assert samples["dpone_rows_inserted"] == report["result"]["inserted_rows"] == 3835
    assert samples["dpone_rows_quarantined"] == 165
    assert samples["dpone_run_passed"] == 1
    assert samples["dpone_step_duration_seconds[finalize]"] == pytest.approx(
        report["result"]["step_seconds"]["finalize"], abs=1e-6
    )
    document = json.loads((out / "orders" / "runtime_metrics.json").read_text(encoding="utf-8"))
    assert report["run_id"] in json.dumps(document)


def test_the_manifest_block_makes_every_run_export(quickstart: Path) -> None:
    _with_observability(quickstart, "{metrics_dir: .dpone/metrics}")
    report = dpone_core.run(quickstart)
    assert report.passed, report.to_text()
    prom = quickstart.parent / ".dpone" / "metrics" / "orders" / "runtime_metrics.prom"
    assert _samples(prom)["dpone_rows_extracted"] == 4000


def test_a_failed_run_exports_too(quickstart: Path) -> None:
    _with_observability(quickstart, "{metrics_dir: .dpone/metrics}")
    text = quickstart.read_text(encoding="utf-8").replace("enforcement: quarantine", "enforcement: strict")
    quickstart.write_text(text, encoding="utf-8")
    report = dpone_core.run(quickstart)
    assert not report.passed
    samples = _samples(quickstart.parent / ".dpone" / "metrics" / "orders" / "runtime_metrics.prom")
    assert samples["dpone_run_passed"] == 0 and samples["dpone_run_errors"] >= 1


def test_an_unreachable_push_gateway_is_a_warning(quickstart: Path) -> None:
    _with_observability(quickstart, "{push_gateway: 'http://127.0.0.1:9'}")
    report = dpone_core.run(quickstart)
    assert report.passed
    assert any(w.startswith("metrics not exported") for w in report.result.warnings), report.result.warnings


def test_a_dry_run_exports_nothing(quickstart: Path, tmp_path: Path) -> None:
    report = dpone_core.run(quickstart, dry_run=True, metrics_dir=tmp_path / "m")
    assert report.status == "planned"
    assert not (tmp_path / "m").exists()
