"""Trace storage: one row per attempt (timings per step, counts, errors, schema changes) in ``<pipeline>_trace``.

The rows are written to a Parquet file and loaded by an ordinary dpone load (files -> the chosen
sink connection, strategy append), so the trace goes through the same gates, audit row and commit
as any other table: no second write path. The trace is loaded once, after every task of the job
has finished (successful or not), so it never competes with the job's own writers for a sink.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dpone_core.connections.registry import connector
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.models import Manifest
from dpone_core.runtime.report import RunReport

_TS = pa.timestamp("us", tz="UTC")
TRACE_SCHEMA = pa.schema(
    [
        ("job_id", pa.string()),
        ("pipeline", pa.string()),
        ("task", pa.string()),
        ("process", pa.string()),
        ("partition_key", pa.string()),
        ("run_id", pa.string()),
        ("load_id", pa.string()),
        ("attempt", pa.int64()),
        ("status", pa.string()),
        ("passed", pa.bool_()),
        ("started_at", _TS),
        ("finished_at", _TS),
        ("duration_seconds", pa.float64()),
        ("extracted_rows", pa.int64()),
        ("inserted_rows", pa.int64()),
        ("updated_rows", pa.int64()),
        ("deleted_rows", pa.int64()),
        ("quarantined_rows", pa.int64()),
        ("step_seconds", pa.string()),
        ("errors", pa.string()),
        ("schema_changes", pa.string()),
    ]
)
FILES_CONNECTION = "__dpone_trace_files"


def trace_table_name(pipeline: str) -> str:
    """``<pipeline>_trace`` with anything but letters, digits and ``_`` replaced.

    >>> trace_table_name("sales-daily")
    'sales_daily_trace'
    """
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", pipeline).strip("_") or "dpone"
    if cleaned[0].isdigit():
        cleaned = f"p_{cleaned}"
    return f"{cleaned}_trace"


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class TraceRecorder:
    """Collects one row per attempt from the runner's worker threads."""

    job_id: str
    pipeline: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, task_id: str, partition: str | None, attempt: int, report: RunReport) -> None:
        """Add the row of one attempt."""
        r = report.result
        row = {
            "job_id": self.job_id,
            "pipeline": self.pipeline,
            "task": task_id,
            "process": report.process,
            "partition_key": partition,
            "run_id": report.run_id,
            "load_id": report.load_id,
            "attempt": attempt,
            "status": report.status,
            "passed": report.passed,
            "started_at": _ts(report.started_at),
            "finished_at": _ts(report.finished_at),
            "duration_seconds": r.duration_seconds,
            "extracted_rows": r.extracted_rows,
            "inserted_rows": r.inserted_rows,
            "updated_rows": r.updated_rows,
            "deleted_rows": r.deleted_rows,
            "quarantined_rows": r.quarantined_rows,
            "step_seconds": json.dumps(r.step_seconds, sort_keys=True),
            "errors": json.dumps([e.line for e in r.errors]),
            "schema_changes": json.dumps(r.ddl),
        }
        with self._lock:
            self.rows.append(row)

    def table(self) -> pa.Table:
        """The rows as an Arrow table in :data:`TRACE_SCHEMA`."""
        with self._lock:
            rows = list(self.rows)
        return pa.Table.from_pylist(rows, schema=TRACE_SCHEMA)


def store_trace(loaded: LoadedManifest, recorder: TraceRecorder, connection: str, directory: Path) -> RunReport:
    """Load the recorded rows into ``<pipeline>_trace`` on ``connection`` with a normal dpone run."""
    from dpone_core.api import run

    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(recorder.table(), directory / "trace.parquet")
    name = trace_table_name(recorder.pipeline)
    profile = loaded.manifest.connections[connection]
    document = {
        "version": 1,
        "connections": {
            FILES_CONNECTION: {"type": "files", "root": str(directory.resolve())},
            connection: profile.model_dump(mode="json", by_alias=True, exclude_none=True),
        },
        "processes": [
            {
                "name": name,
                "description": f"run trace of {recorder.pipeline}",
                "source": {"connection": FILES_CONNECTION, "path": "trace.parquet", "format": "parquet"},
                "sink": {
                    "connection": connection,
                    "table": name,
                    "strategy": "append",
                    **({"format": "parquet"} if connector(profile.type).capabilities.path_based else {}),
                },
            }
        ],
    }
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    trace_manifest = LoadedManifest(Manifest.model_validate(document), loaded.path, loaded.registry_paths, digest)
    return run(trace_manifest, name, run_id=f"{recorder.job_id}__trace")
