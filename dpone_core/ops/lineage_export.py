"""``dpone ops lineage-export``: a registered run's OpenLineage START and final event, as JSON.

The run is read from its ``dpone ops run-registry`` entry. Its report is the run's own document
(``dpone run --format json`` or an orchestrated run) when that file is still on disk with the
sha256 the entry recorded (a file that changed since is a bad input), else a report assembled from
the entry's fields (status, ids, counts, errors). Datasets come from the manifest's process
(``--manifest``) or are named with ``--input`` / ``--output KIND=NAME``. Events are built by
:mod:`dpone_core.lineage.events` (the builder ``dpone run`` emits with), so the ``runId`` is the one
the runtime, the registry and catalog publication use. :mod:`.catalog_publish` reads runs the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dpone_core.durable import sha256_file, write_json
from dpone_core.errors import ConfigurationError, DponeError
from dpone_core.lineage.datasets import ProcessDatasets, process_datasets
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.model import LineageDataset
from dpone_core.ops.artifacts import OpsReport, WrittenReport, markdown_table, write_report
from dpone_core.redaction import redact
from dpone_core.runtime.report import ErrorEntry, RunReport, RunResult

if TYPE_CHECKING:
    from openlineage.client.event_v2 import RunEvent

KIND = "lineage_export"
STEP = "lineage-export"
EVENTS_FILE = "openlineage_events.json"
_STATUSES = frozenset({"succeeded", "failed", "skipped", "interrupted", "planned", "extracted"})
_COUNTS = ("extracted", "staged", "inserted", "updated", "deleted", "quarantined")


@dataclass(frozen=True)
class RunSelection:
    """Which registered run to describe, and where its datasets come from."""

    entry: Path
    manifest: Path | None = None
    selector: str | None = None
    registry: tuple[str, ...] = ()
    namespace: str | None = None
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishedRun:
    """A registered run, ready to describe: its report, process, datasets and job namespace."""

    entry_path: Path
    entry: dict[str, Any]
    run_id: str
    report: RunReport
    report_source: str
    """``run_result`` (the run's own document) or ``registry_entry`` (assembled from the entry)."""
    process: Process
    datasets: ProcessDatasets
    namespace: str
    loaded: LoadedManifest | None = None
    notes: list[str] = field(default_factory=list)


def read_entry(path: Path, step: str) -> dict[str, Any]:
    """The run registry entry at ``path`` (a configuration error naming the file otherwise)."""
    fix = "pass the <run_id>__run_registry.json that `dpone ops run-registry` wrote"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}", step=step, fix=fix) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"{path} is not JSON ({exc})", step=step, fix=fix) from None
    if not isinstance(document, dict) or document.get("kind") != "run_registry":
        raise ConfigurationError(f"{path} is not a run registry entry", step=step, fix=fix)
    return document


def _located(path: str, entry_path: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() or candidate.exists() else entry_path.parent / candidate


def entry_report(entry: dict[str, Any], entry_path: Path, step: str) -> tuple[RunReport, str]:
    """The run's full report when its document is on disk unchanged, else one assembled from the entry."""
    source = entry.get("run_result") or {}
    path = _located(str(source.get("path") or ""), entry_path) if source.get("path") else None
    if path is None or not path.is_file() or source.get("kind") not in ("run", "orchestrated_run"):
        return assembled_report(entry.get("run") or {}), "registry_entry"
    if sha256_file(path) != source.get("sha256"):
        raise ConfigurationError(
            f"the run result {path} changed after it was registered (its sha256 is not the entry's)",
            step=step,
            fix="restore the file, or register the run again with `dpone ops run-registry`",
        )
    document = json.loads(path.read_text(encoding="utf-8"))
    if source.get("kind") == "orchestrated_run":
        document = document.get("run_result")
    try:
        return RunReport.model_validate(document), "run_result"
    except ValidationError:
        return assembled_report(entry.get("run") or {}), "registry_entry"


def assembled_report(run: dict[str, Any]) -> RunReport:
    """A RunReport from a registry entry's ``run`` block (no gates or schema: the entry has none)."""
    status = str(run.get("status") or "")
    passed = run.get("passed") is True
    counts = run.get("counts") or {}
    errors = [ErrorEntry(code="DPONE_ERROR", message=str(e), line=str(e)) for e in run.get("errors") or []]
    result = RunResult(
        **{f"{name}_rows": int(counts.get(name, 0)) for name in _COUNTS},
        errors=errors,
        target=run.get("target"),
    )
    return RunReport(
        passed=passed,
        status=status if status in _STATUSES else ("succeeded" if passed else "failed"),
        process=run.get("process"),
        run_id=run.get("run_id"),
        load_id=run.get("load_id"),
        strategy=run.get("strategy"),
        attempts=int(run.get("attempts") or 1),
        manifest_path=run.get("manifest_path"),
        manifest_sha256=run.get("manifest_sha256"),
        started_at=run.get("started_at"),
        finished_at=run.get("finished_at"),
        result=result,
    )


def parse_dataset(text: str, option: str, step: str) -> LineageDataset:
    """``KIND=NAME`` (``postgres=public.orders``); KIND may be a namespace URI (``postgres://db:5432``)."""
    kind, sep, name = text.partition("=")
    if not sep or not kind.strip() or not name.strip():
        raise ConfigurationError(
            f"{option} {text!r} is not KIND=NAME", step=step, fix=f"write {option} postgres=public.orders"
        )
    kind, name = kind.strip(), name.strip()
    system = kind.split("://", 1)[0]
    schema, _, table = name.rpartition(".")
    return LineageDataset(kind, name, system, None, schema or None, table)


def _manifest_process(selection: RunSelection, recorded: str | None, step: str) -> tuple[LoadedManifest, Process]:
    from dpone_core.api import load
    from dpone_core.manifest.selectors import select_one

    assert selection.manifest is not None
    try:
        loaded = load(selection.manifest, selection.registry)
        process = select_one(loaded.manifest, selection.selector or recorded)
    except DponeError as exc:
        raise exc.at(step=step) from None
    if recorded and process.name != recorded:
        raise ConfigurationError(
            f"the entry records a run of process {recorded}, not {process.name}",
            step=step,
            fix=f"pass --selector {recorded}, or the entry of a {process.name} run",
        )
    return loaded, process


def _process_and_datasets(
    selection: RunSelection, recorded: str | None, step: str
) -> tuple[Process, ProcessDatasets, LoadedManifest | None]:
    """The process and its datasets: the manifest's, with ``--input`` / ``--output`` replacing a side."""
    inputs = tuple(parse_dataset(t, "--input", step) for t in selection.inputs)
    outputs = tuple(parse_dataset(t, "--output", step) for t in selection.outputs)
    if selection.manifest is None:
        if not inputs and not outputs:
            raise ConfigurationError(
                "no datasets to describe", step=step, fix="give --manifest, or --input/--output KIND=NAME"
            )
        # Only the name is known: the builder reads nothing else of a process whose inputs are
        # marked as not mapping column to column (query_source), so a bare model stands in for it.
        bare: dict[str, Any] = {"name": selection.selector or recorded or "unknown"}
        process = Process.model_construct(**bare)
        return process, ProcessDatasets(inputs, outputs, query_source=True), None
    loaded, process = _manifest_process(selection, recorded, step)
    found = process_datasets(loaded, process)
    if inputs or outputs:
        found = ProcessDatasets(inputs or found.inputs, outputs or found.outputs, found.query_source or bool(inputs))
    return process, found, loaded


def job_namespace(selection: RunSelection, loaded: LoadedManifest | None) -> str:
    """``--namespace``, else the manifest's ``observability.openlineage_namespace``, else what ``dpone run`` uses."""
    from dpone_core.lineage.events import DEFAULT_NAMESPACE

    configured = loaded.manifest.observability.openlineage_namespace if loaded is not None else None
    return selection.namespace or configured or os.getenv("OPENLINEAGE_NAMESPACE") or DEFAULT_NAMESPACE


def load_run(selection: RunSelection, step: str = STEP) -> PublishedRun:
    """Read the entry, its report and the process's datasets (every bad input a configuration error)."""
    entry = read_entry(selection.entry, step)
    run = entry.get("run") or {}
    run_id = run.get("run_id") or f"unidentified_{str((entry.get('run_result') or {}).get('sha256'))[:12]}"
    report, source = entry_report(entry, selection.entry, step)
    process, datasets, loaded = _process_and_datasets(selection, run.get("process") or report.process, step)
    namespace = job_namespace(selection, loaded)
    return PublishedRun(selection.entry, entry, str(run_id), report, source, process, datasets, namespace, loaded)


def final_event(run: PublishedRun) -> RunEvent:
    """COMPLETE (FAIL, or ABORT when interrupted) with the facets of what the run did."""
    from dpone_core.lineage.events import final_state, run_event

    state = final_state(run.report)
    return run_event(state, run.process, run.datasets, run.run_id, report=run.report, namespace=run.namespace)


def start_event(run: PublishedRun) -> RunEvent:
    """START, at the run's start time (dataset names only)."""
    from openlineage.client.event_v2 import RunState

    from dpone_core.lineage.events import run_event

    when = run.report.started_at or run.report.finished_at
    return run_event(RunState.START, run.process, run.datasets, run.run_id, namespace=run.namespace, event_time=when)


def event_document(event: RunEvent) -> dict[str, Any]:
    """An event as the JSON openlineage-python sends (secrets redacted)."""
    from openlineage.client.serde import Serde

    document: dict[str, Any] = json.loads(redact(Serde.to_json(event)))
    return document


def emit(events: list[RunEvent]) -> list[str]:
    """Send ``events`` through openlineage-python's configured client; blockers for what was not sent."""
    from openlineage.client import OpenLineageClient

    client = OpenLineageClient()
    try:
        for event in events:
            client.emit(event)
    except Exception as exc:  # noqa: BLE001 - any transport error is reported as one blocker line
        return [redact(f"emit.failed: {type(exc).__name__}: {exc}".splitlines()[0])]
    finally:
        client.close(timeout=5.0)
    return []


def require_transport(step: str) -> None:
    """A configuration error when no OpenLineage transport is configured (for ``--emit``)."""
    from dpone_core.lineage.emitter import lineage_configured

    if not lineage_configured():
        raise ConfigurationError(
            "--emit needs an OpenLineage transport, and none is configured",
            step=step,
            fix="set OPENLINEAGE_URL, OPENLINEAGE_CONFIG or OPENLINEAGE__TRANSPORT__TYPE (or drop --emit)",
        )


def run_summary(run: PublishedRun) -> dict[str, Any]:
    """The report's ``run`` block: ids, status and where its facts came from."""
    from dpone_core.lineage.events import openlineage_run_id

    return {
        "run_id": run.run_id,
        "openlineage_run_id": openlineage_run_id(run.run_id),
        "process": run.process.name,
        "status": run.report.status,
        "passed": run.report.passed,
        "job": {"namespace": run.namespace, "name": run.process.name},
        "report_source": run.report_source,
        "entry": {"path": str(run.entry_path), "sha256": sha256_file(run.entry_path)},
        "inputs": [_dataset(d) for d in run.datasets.inputs],
        "outputs": [_dataset(d) for d in run.datasets.outputs],
    }


def _dataset(dataset: LineageDataset) -> dict[str, str]:
    return {"namespace": dataset.namespace, "name": dataset.name, "uri": dataset.uri}


def lineage_export(
    selection: RunSelection, output_dir: Path, emit_events: bool = False
) -> tuple[OpsReport, WrittenReport]:
    """Write ``openlineage_events.json`` (START, final) and ``lineage_export.json``/``.md``; emit on request."""
    if emit_events:
        require_transport(STEP)
    run = load_run(selection)
    events = [start_event(run), final_event(run)]
    documents = [event_document(e) for e in events]
    path = output_dir / EVENTS_FILE
    write_json(path, documents)
    blockers = emit(events) if emit_events else []
    if not run.report.passed:
        blockers.insert(0, f"run.red: run {run.run_id} ended {run.report.status}")
    payload = {
        "run": run_summary(run),
        "events": [d["eventType"] for d in documents],
        "emitted": emit_events and not any(b.startswith("emit.failed") for b in blockers),
        "files": [{"name": path.name, "path": str(path), "sha256": sha256_file(path)}],
    }
    report = OpsReport(KIND, payload, blockers)
    return report, write_report(report, output_dir, KIND, to_markdown(report))


def to_markdown(report: OpsReport) -> str:
    """The export's Markdown twin."""
    run = report.payload["run"]
    lines = [
        f"# Lineage export: {run['run_id']} ({run['status']}), {'GREEN' if report.passed else 'RED'}",
        "",
        f"- job `{run['job']['namespace']}/{run['job']['name']}`, OpenLineage runId `{run['openlineage_run_id']}`",
        f"- events: {', '.join(report.payload['events'])}; emitted: {'yes' if report.payload['emitted'] else 'no'}",
        f"- facts from the {run['report_source'].replace('_', ' ')}",
        "",
        *markdown_table(("file", "sha256"), [(f["name"], f["sha256"]) for f in report.payload["files"]]),
    ]
    lines += ["", "## Blockers", "", *[f"- {b}" for b in report.blockers]] if report.blockers else []
    return "\n".join(lines) + "\n"


def text_lines(report: OpsReport) -> list[str]:
    """Terminal lines of an export or a publication."""
    run = report.payload["run"]
    lines = [f"run {run['run_id']} ({run['process']}): {run['status']}, runId {run['openlineage_run_id']}"]
    return lines + [f"  {f['name']}  {f['sha256'][:16]}" for f in report.payload.get("files", [])]
