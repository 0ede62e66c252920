"""``dpone run-report``: write a committed run's report from its audit row and evidence, after the fact.

A run whose ``dpone run --format json`` was not kept (a cron job's lost output, a notebook) still
left its audit row and, with evidence enabled, its evidence JSON. This rebuilds the run's
:class:`~dpone_core.runtime.report.RunReport` from them, in the same shape ``dpone run --format
json`` prints, so the result can be registered (``dpone ops run-registry``), attached to an
incident, or compared. Only what was recorded is shown: counts, ids, strategy, times and state
from the audit row; gates, DDL, source and quarantine files from the evidence; nothing invented.
Warnings, step timings and attempts are not recorded anywhere, so they are absent.

The evidence JSON's sha256 must equal the audit row's ``evidence_sha256``; when it does not (or
the file is gone while the row names one), the report is written with a warning and the result
is red.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpone_core.durable import sha256_file, write_text
from dpone_core.errors import ConfigurationError
from dpone_core.orchestration._files import safe_name
from dpone_core.runtime.report import GateVerdict, RunReport, RunResult

STEP = "run-report"


@dataclass
class RebuiltRun:
    """A committed run's report rebuilt from its records, with what could not be verified."""

    report: RunReport | None
    audit: dict[str, Any] | None
    evidence_path: str | None = None
    blockers: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Found, and its evidence (when the audit row names one) verified."""
        return self.report is not None and not self.blockers


def _state(text: Any) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None if value is None else str(value)


def _seconds(started: Any, finished: Any) -> float:
    """The load's recorded duration (0 when either time is missing)."""
    try:
        return max(0.0, (finished - started).total_seconds())
    except TypeError:
        return 0.0


def evidence_file(loaded: Any, process: Any, load_id: str) -> Path | None:
    """Where the load's evidence JSON is (None when the process writes no evidence)."""
    from dpone_core.manifest.references import resolve_setting

    if not process.runtime_evidence.output_dir:
        return None
    root = Path(resolve_setting(process.runtime_evidence.output_dir, "runtime_evidence.output_dir", loaded.base_dir))
    root = root.expanduser() if root.expanduser().is_absolute() else loaded.base_dir / root
    return root / process.name / load_id / "data_contract_evidence.json"


def _evidence(path: Path | None, expected: str | None) -> tuple[dict[str, Any], list[str]]:
    """The evidence document and the blockers of checking it against the audit row's sha256."""
    if path is None or expected is None:
        return {}, []
    if not path.is_file():
        return {}, [f"evidence.missing: the audit row names evidence {expected[:12]}... but {path} is gone"]
    if sha256_file(path) != expected:
        return {}, [f"evidence.tampered: {path} is not the evidence the audit row recorded (sha256 differs)"]
    document = json.loads(path.read_text(encoding="utf-8"))
    return (document if isinstance(document, dict) else {}), []


def rebuild(audit: dict[str, Any], evidence: dict[str, Any], evidence_path: Path | None, manifest: str) -> RunReport:
    """The report of the load ``audit`` records (``evidence`` empty when there is none)."""
    artifacts = [a for a in evidence.get("artifacts", []) if isinstance(a, dict)]
    paths = [str(evidence_path), str(evidence_path.with_suffix(".md"))] if evidence and evidence_path else []
    result = RunResult(
        extracted_rows=audit.get("rows_extracted") or 0,
        staged_rows=audit.get("rows_staged") or 0,
        inserted_rows=audit.get("rows_inserted") or 0,
        updated_rows=audit.get("rows_updated") or 0,
        deleted_rows=audit.get("rows_deleted") or 0,
        quarantined_rows=audit.get("rows_quarantined") or 0,
        duration_seconds=_seconds(audit.get("started_at"), audit.get("finished_at")),
        gates=[GateVerdict.model_validate(g) for g in evidence.get("gates", [])],
        ddl=list(evidence.get("ddl", [])),
        evidence_paths=paths,
        quarantine_paths=[str(a["path"]) for a in artifacts if a.get("kind") == "quarantine"],
        state_before=_state(audit.get("state_before")),
        state_after=_state(audit.get("state_after")),
        source=evidence.get("source"),
        target=evidence.get("target") or audit.get("target_table"),
    )
    return RunReport(
        passed=True,
        status="succeeded",
        process=audit.get("process"),
        run_id=audit.get("run_id"),
        load_id=audit.get("load_id"),
        strategy=audit.get("strategy"),
        manifest_path=manifest,
        manifest_sha256=audit.get("manifest_sha256"),
        started_at=_iso(audit.get("started_at")),
        finished_at=_iso(audit.get("finished_at")),
        result=result,
    )


def run_report(
    manifest: str,
    selector: str | None,
    run_id: str,
    output_dir: Path | None = None,
    registry_paths: Sequence[str | Path] = (),
) -> RebuiltRun:
    """Rebuild the newest committed load of ``run_id`` of the selected process; write it when asked.

    Written as ``<output_dir>/<run_id>__run_result.json`` (exactly ``RunReport.to_json()``) and
    ``.md``. A run id with no committed load returns ``report=None`` and a blocker.
    """
    from dpone_core.api import committed_loads, load
    from dpone_core.manifest.selectors import select_one

    loaded = load(manifest, registry_paths)
    process = select_one(loaded.manifest, selector)
    rows = [r for r in committed_loads(manifest, process.name, None, registry_paths) if r.get("run_id") == run_id]
    if not rows:
        blocker = f"run.not_committed: process {process.name} has no committed load with run id {run_id}"
        return RebuiltRun(None, None, blockers=[blocker])
    audit = rows[0]  # newest first: a restarted run id's latest load
    path = evidence_file(loaded, process, str(audit["load_id"]))
    evidence, blockers = _evidence(path, audit.get("evidence_sha256"))
    report = rebuild(audit, evidence, path, str(loaded.path))
    if blockers:
        warnings = [*report.result.warnings, *blockers]
        report = report.model_copy(update={"result": report.result.model_copy(update={"warnings": warnings})})
    rebuilt = RebuiltRun(report, audit, str(path) if evidence else None, blockers)
    if output_dir is not None:
        rebuilt.written = write_run_report(report, output_dir)
    return rebuilt


def write_run_report(report: RunReport, output_dir: Path) -> list[Path]:
    """``<run_id>__run_result.json`` and ``.md`` in ``output_dir`` (secrets masked by the report)."""
    if not report.run_id:
        raise ConfigurationError("the report has no run id", step=STEP, fix="pass --run-id")
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{safe_name(report.run_id)}__run_result"
    json_path, md_path = output_dir / f"{stem}.json", output_dir / f"{stem}.md"
    write_text(json_path, report.to_json() + "\n")
    write_text(md_path, report.to_markdown())
    return [json_path, md_path]
