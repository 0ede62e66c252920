"""``dpone ops run-registry``: record one run's result and the artifacts it names, with their sha256.

A run result is any of the documents dpone's entry points leave behind:

* ``dpone run --format json`` (a :class:`~dpone_core.runtime.report.RunReport`),
* ``dpone orchestrate run --format json`` or ``orchestrated_run.json`` (its ``run_result`` nested),
* the dict the Airflow operator returns as XCom (``RunReport.summary()`` plus target, partition, phase),
* a Dagster materialization's metadata (``dpone/status``, ``dpone/run_id``, ``dpone/evidence_paths``...).

The entry ``<output-dir>/<run_id>__run_registry.json`` (+ ``.md``) records the run (status, ids,
counts, errors), the input's own sha256, and every artifact the result names (evidence JSON and
Markdown, quarantine files, orchestration reports and job state) with its sha256. An evidence JSON
also lists the sha256 its load computed for the quarantine file and the Markdown; those are checked,
so a file changed since its load is ``tampered``. Blockers (the entry is red, exit 1): the run did
not pass, an artifact is missing, or one is tampered. :func:`verify_entry` re-checks a written entry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dpone_core.durable import sha256_file
from dpone_core.errors import ConfigurationError
from dpone_core.ops.artifacts import OpsReport, WrittenReport, markdown_table, write_report
from dpone_core.orchestration._files import safe_name
from dpone_core.runtime.report import RunReport

KIND = "run_registry"
STEP = "run-registry"
GREEN_STATUSES = frozenset({"succeeded", "skipped", "committed", "planned", "extracted"})


@dataclass
class RunRecord:
    """The run as the registry sees it, whatever document it came from."""

    source_kind: str
    """``run``, ``orchestrated_run``, ``dataflow_job`` (one task's), ``airflow_xcom`` or ``dagster``."""
    status: str
    passed: bool
    run_id: str | None = None
    process: str | None = None
    load_id: str | None = None
    strategy: str | None = None
    attempts: int | None = None
    target: str | None = None
    manifest_path: str | None = None
    manifest_sha256: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    named: list[tuple[str, str]] = field(default_factory=list)
    """(kind, path) of every artifact the result names."""
    report: dict[str, Any] | None = None
    """The run's ``RunReport`` document, as far as the result carries one (none in Dagster metadata):
    what ``dpone observability metrics-export`` computes its samples from. Not part of the entry."""


@dataclass
class ArtifactEntry:
    """One named artifact: present or not, its sha256 now, and what its load recorded for it."""

    kind: str
    path: str
    present: bool
    sha256: str | None = None
    recorded_sha256: str | None = None
    status: str = "missing"
    """``ok``, ``missing`` or ``tampered``."""


def read_result(path: Path, step: str = STEP, option: str = "--run-result") -> dict[str, Any]:
    """The JSON object at ``path`` (a configuration error naming the file when it cannot be read)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}", step=step, fix=f"pass {option}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"{path} is not JSON ({exc})", step=step, fix="pass the output of `dpone run --format json`"
        ) from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path} does not hold a JSON object", step=step, fix="pass one run's result")
    return document


def _counts(result: dict[str, Any]) -> dict[str, int]:
    names = ("extracted", "staged", "inserted", "updated", "deleted", "quarantined")
    return {n: int(result[f"{n}_rows"]) for n in names if isinstance(result.get(f"{n}_rows"), int)}


def _from_run(doc: dict[str, Any], kind: str = "run") -> RunRecord:
    """A ``RunReport`` document."""
    found = doc.get("result")
    result: dict[str, Any] = found if isinstance(found, dict) else {}
    errors = [str(e.get("line") or e.get("message")) for e in result.get("errors", []) if isinstance(e, dict)]
    named = [("evidence", str(p)) for p in result.get("evidence_paths", [])]
    named += [("quarantine", str(p)) for p in result.get("quarantine_paths", [])]
    return RunRecord(
        kind, str(doc.get("status")), doc.get("passed") is True, doc.get("run_id"), doc.get("process"),
        doc.get("load_id"), doc.get("strategy"), doc.get("attempts"), result.get("target"),
        doc.get("manifest_path"), doc.get("manifest_sha256"), doc.get("started_at"), doc.get("finished_at"),
        _counts(result), errors, named, doc,
    )  # fmt: skip


def _from_orchestrated(doc: dict[str, Any]) -> RunRecord:
    """An ``OrchestratedRunReport``: its own status and blockers, the nested run's counts and files."""
    inner = doc.get("run_result") if isinstance(doc.get("run_result"), dict) else None
    record = _from_run(inner, "orchestrated_run") if inner else RunRecord("orchestrated_run", "", False)
    record.status = str(doc.get("status"))
    record.passed = doc.get("exit_code") == 0
    record.run_id = doc.get("run_id") or record.run_id
    record.manifest_path = doc.get("manifest_path") or record.manifest_path
    record.process = record.process or doc.get("selector")
    blockers = [f"{b.get('code')}: {b.get('message')}" for b in doc.get("blockers", []) if isinstance(b, dict)]
    record.errors = [*blockers, *[str(e) for e in doc.get("errors", [])], *record.errors]
    record.named += [("orchestrated_run", str(p)) for p in doc.get("artifacts", [])]
    if doc.get("job_state_path"):
        record.named.append(("job_state", str(doc["job_state_path"])))
    return record


def _from_xcom(doc: dict[str, Any]) -> RunRecord:
    """The Airflow operator's XCom value (``RunReport.summary()`` plus target, partition, phase)."""
    return RunRecord(
        "airflow_xcom", str(doc.get("status")), doc.get("passed") is True, doc.get("run_id"), doc.get("process"),
        doc.get("load_id"), None, doc.get("attempts"), doc.get("target"), counts=_counts(doc),
        errors=[str(e) for e in doc.get("errors", [])],
        named=[("evidence", str(p)) for p in doc.get("evidence_paths", [])], report=_xcom_report(doc),
    )  # fmt: skip


def _xcom_report(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``RunReport`` fields a summary carries (it has no step times, source, warnings or finish time)."""
    keys = [f"{n}_rows" for n in ("extracted", "inserted", "updated", "deleted", "quarantined")]
    result = {k: doc[k] for k in (*keys, "duration_seconds", "state_after", "evidence_paths", "target") if k in doc}
    result["errors"] = [{"code": "DPONE_ERROR", "message": str(e), "line": str(e)} for e in doc.get("errors", [])]
    head = {
        k: doc[k] for k in ("passed", "status", "process", "run_id", "load_id", "attempts") if doc.get(k) is not None
    }
    return {**head, "result": result}


def _plain(value: Any) -> Any:
    """A Dagster metadata value as exported: raw, or wrapped as ``{"value": ...}`` / ``{"raw_value": ...}``."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("value", "raw_value", "data", "path"):
        return next(iter(value.values()))
    return value


def _from_dagster(doc: dict[str, Any]) -> RunRecord:
    """A materialization's metadata (the keys ``materialize_metadata`` writes); green unless it says failed."""
    meta = {k.removeprefix("dpone/"): _plain(v) for k, v in doc.items() if k.startswith("dpone/")}
    status = str(meta.get("status") or "")
    names = ("extracted", "inserted", "updated", "deleted", "quarantined")
    named = [("evidence", str(p)) for p in meta.get("evidence_paths") or []]
    named += [("quarantine", str(p)) for p in meta.get("quarantine_paths") or []]
    return RunRecord(
        "dagster", status, all(s in GREEN_STATUSES for s in status.split(",")), meta.get("run_id") or None,
        None, meta.get("load_id") or None, meta.get("strategy") or None, meta.get("attempts"),
        counts={n: int(meta[f"{n}_rows"]) for n in names if isinstance(meta.get(f"{n}_rows"), int)},
        named=named,
    )  # fmt: skip


def parse_result(doc: dict[str, Any]) -> RunRecord:
    """Recognise the document's kind and read it; a configuration error when it is none of them."""
    if isinstance(doc.get("metadata"), dict) and any(str(k).startswith("dpone/") for k in doc["metadata"]):
        return _from_dagster(doc["metadata"])
    if any(str(k).startswith("dpone/") for k in doc):
        return _from_dagster(doc)
    if "concurrency_key" in doc and "resume_policy" in doc:
        return _from_orchestrated(doc)
    if isinstance(doc.get("result"), dict) and "status" in doc:
        return _from_run(doc)
    if "status" in doc and "passed" in doc and "evidence_paths" in doc:
        return _from_xcom(doc)
    raise ConfigurationError(
        "not a dpone run result (expected dpone run / orchestrate run JSON, an Airflow XCom or Dagster metadata)",
        step=STEP,
        fix="pass the output of `dpone run --format json` or `dpone orchestrate run --format json`",
    )


def parse_results(doc: dict[str, Any]) -> list[RunRecord]:
    """Every run the document holds: one per task of a ``dpone orchestrate stage`` job result, else one."""
    reports = doc.get("reports")
    if "job_id" in doc and isinstance(reports, dict):
        return [_from_run(r, "dataflow_job") for r in reports.values() if isinstance(r, dict)]
    return [parse_result(doc)]


def run_reports(path: Path, step: str = STEP, option: str = "--run-result") -> list[RunReport]:
    """The ``RunReport`` of every process in the run result at ``path`` (a configuration error when none)."""
    fix: str | None
    try:
        records = parse_results(read_result(path, step, option))
        if not records or any(r.report is None for r in records):
            why = "an orchestrated run that never started, or Dagster metadata"
            raise ConfigurationError(f"{path} carries no run report ({why})", fix="pass dpone run's JSON")
        return [RunReport.model_validate(r.report) for r in records]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message, fix = f"{path} is not a valid run report ({where}: {first['msg']})", "pass dpone run's JSON"
    except ConfigurationError as exc:
        message, fix = exc.message if str(path) in exc.message else f"{path}: {exc.message}", exc.fix
    raise ConfigurationError(message, step=step, fix=fix)


def _resolve(path: str, base: Path) -> Path:
    """An artifact path as written, or relative to the result file's folder when it is not found as is."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() or candidate.exists() else base / candidate


def _recorded(evidence: Path) -> dict[str, str]:
    """The sha256 an evidence JSON recorded for its artifacts ({path: sha256}); empty when unreadable."""
    try:
        document = json.loads(evidence.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    listed = document.get("artifacts") if isinstance(document, dict) else None
    return {str(a["path"]): str(a["sha256"]) for a in listed or [] if isinstance(a, dict) and "sha256" in a}


def check_artifacts(named: list[tuple[str, str]], base: Path) -> list[ArtifactEntry]:
    """Each named artifact's presence and sha256, checked against what its evidence JSON recorded."""
    resolved = [(kind, str(_resolve(path, base))) for kind, path in dict.fromkeys(named)]
    recorded: dict[str, str] = {}
    for _, path in resolved:
        if path.endswith(".json") and Path(path).is_file():
            recorded.update(_recorded(Path(path)))
    entries = []
    for kind, path in resolved:
        entry = ArtifactEntry(kind, path, Path(path).is_file(), recorded_sha256=recorded.get(path))
        if entry.present:
            entry.sha256 = sha256_file(Path(path))
            tampered = entry.recorded_sha256 is not None and entry.recorded_sha256 != entry.sha256
            entry.status = "tampered" if tampered else "ok"
        entries.append(entry)
    return entries


def _blockers(record: RunRecord, artifacts: list[ArtifactEntry]) -> list[str]:
    blockers = []
    if not record.passed:
        why = f": {record.errors[0]}" if record.errors else ""
        blockers.append(f"run.red: run {record.run_id} ended {record.status or 'without a status'}{why}")
    for a in artifacts:
        if a.status == "missing":
            blockers.append(f"artifact.missing: {a.kind} {a.path} is named by the result but does not exist")
        elif a.status == "tampered":
            blockers.append(f"artifact.tampered: {a.kind} {a.path} no longer has the sha256 its load recorded")
    return blockers


def build_entry(result_path: Path) -> OpsReport:
    """The registry entry of the run result at ``result_path`` (not written)."""
    record = parse_result(read_result(result_path))
    artifacts = check_artifacts(record.named, result_path.parent)
    run = asdict(record)
    run.pop("named")
    run.pop("report")
    payload = {
        "run": run,
        "run_result": {"path": str(result_path), "sha256": sha256_file(result_path), "kind": record.source_kind},
        "registered_artifacts": [asdict(a) for a in artifacts],
    }
    return OpsReport(KIND, payload, _blockers(record, artifacts))


def entry_stem(report: OpsReport) -> str:
    """``<run_id>__run_registry`` (the input's checksum stands in for a run id the result lacks)."""
    run_id = report.payload["run"].get("run_id") or f"unidentified_{report.payload['run_result']['sha256'][:12]}"
    return f"{safe_name(str(run_id))}__run_registry"


def register_run(result_path: Path, output_dir: Path) -> tuple[OpsReport, WrittenReport]:
    """Build the entry of ``result_path`` and write it as ``<run_id>__run_registry.json`` / ``.md``."""
    report = build_entry(result_path)
    return report, write_report(report, output_dir, entry_stem(report), to_markdown(report))


def verify_entry(entry_path: Path) -> OpsReport:
    """Re-check a written entry: every registered artifact still has the sha256 the entry recorded."""
    document = read_result(entry_path)
    if document.get("kind") != KIND:
        raise ConfigurationError(
            f"{entry_path} is not a run registry entry", step=STEP, fix="pass a __run_registry.json"
        )
    blockers = []
    for item in document.get("registered_artifacts", []):
        path = Path(str(item.get("path")))
        if item.get("sha256") is None:
            continue  # missing when registered: already a blocker of the entry itself
        if not path.is_file():
            blockers.append(f"artifact.missing: {path} was registered and is gone")
        elif sha256_file(path) != item["sha256"]:
            blockers.append(f"artifact.tampered: {path} changed after it was registered")
    source = Path(str(document.get("run_result", {}).get("path")))
    if source.is_file() and sha256_file(source) != document["run_result"].get("sha256"):
        blockers.append(f"artifact.tampered: the run result {source} changed after it was registered")
    payload = {"entry": str(entry_path), "run": document.get("run", {}), "entry_status": document.get("status")}
    return OpsReport("run_registry_verification", payload, blockers)


def to_markdown(report: OpsReport) -> str:
    """The entry's Markdown twin."""
    run = report.payload["run"]
    counts = ", ".join(f"{k} {v}" for k, v in run["counts"].items()) or "-"
    lines = [
        f"# Run registry: {run.get('run_id')} ({run.get('status')}), {'GREEN' if report.passed else 'RED'}",
        "",
        f"- process `{run.get('process')}`, load `{run.get('load_id')}`, from a {run['source_kind']} result",
        f"- target `{run.get('target')}`; rows: {counts}",
        f"- run result `{report.payload['run_result']['path']}` sha256 `{report.payload['run_result']['sha256']}`",
        "",
        *markdown_table(
            ("kind", "path", "status", "sha256"),
            [(a["kind"], a["path"], a["status"], a["sha256"] or "-") for a in report.payload["registered_artifacts"]],
        ),
    ]
    lines += ["", "## Blockers", "", *[f"- {b}" for b in report.blockers]] if report.blockers else []
    lines += ["", "## Errors", "", *[f"- {e}" for e in run["errors"]]] if run["errors"] else []
    return "\n".join(lines) + "\n"


def text_lines(report: OpsReport) -> list[str]:
    """Terminal lines of an entry or a verification."""
    run = report.payload.get("run", {})
    lines = [f"run {run.get('run_id')} ({run.get('process')}): {run.get('status')}"]
    lines += [f"  {a['status']:<8} {a['kind']:<16} {a['path']}" for a in report.payload.get("registered_artifacts", [])]
    return lines
