"""What a committing load writes about itself: the evidence document and the audit row."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from dpone_core.manifest.process import Process
from dpone_core.runtime.context import RunContext
from dpone_core.runtime.report import RunResult


def evidence_document(
    ctx: RunContext,
    result: RunResult,
    artifacts: list[dict[str, Any]],
    source: str,
    target: str,
    objects: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The evidence JSON document of a load about to commit.

    ``objects`` are the data files a load wrote to a folder or bucket (uri, rows, size_bytes,
    sha256): what a reader or a later load can verify against the store.
    """
    return {
        "evidence_version": 1,
        "status": "committing",
        "process": ctx.process.name,
        "run_id": ctx.run_id,
        "load_id": ctx.load_id,
        "partition": partition_label(ctx),
        "strategy": ctx.process.sink.strategy,
        "manifest_path": str(ctx.loaded.path),
        "manifest_sha256": ctx.loaded.sha256,
        "process_config_sha256": process_sha256(ctx.process),
        "source": source,
        "target": target,
        "started_at": ctx.started_at.isoformat(),
        "written_at": datetime.now(UTC).isoformat(),
        "counts": {
            "extracted": result.extracted_rows,
            "staged": result.staged_rows,
            "inserted": result.inserted_rows,
            "updated": result.updated_rows,
            "deleted": result.deleted_rows,
            "quarantined": result.quarantined_rows,
        },
        "gates": [g.model_dump() for g in result.gates],
        "ddl": result.ddl,
        "artifacts": artifacts,
        "objects": objects or [],
        "state_before": result.state_before,
        "state_after": result.state_after,
    }


def audit_row(ctx: RunContext, result: RunResult, evidence_sha: str | None) -> dict[str, Any]:
    """The ``__dpone__loads`` row of a load about to commit."""
    return {
        "load_id": ctx.load_id,
        "run_id": ctx.run_id,
        "process": ctx.process.name,
        "strategy": ctx.process.sink.strategy,
        "status": "committed",
        "target_table": result.target,
        "rows_extracted": result.extracted_rows,
        "rows_staged": result.staged_rows,
        "rows_inserted": result.inserted_rows,
        "rows_updated": result.updated_rows,
        "rows_deleted": result.deleted_rows,
        "rows_quarantined": result.quarantined_rows,
        "manifest_sha256": ctx.loaded.sha256,
        "evidence_sha256": evidence_sha,
        "state_before": json.dumps(result.state_before, default=str) if result.state_before else None,
        "state_after": json.dumps(result.state_after, default=str) if result.state_after else None,
        "partition_key": partition_label(ctx),
        "started_at": ctx.started_at,
        "finished_at": datetime.now(UTC),
    }


def partition_label(ctx: RunContext) -> str | None:
    """The partition a load covers: its key, or the comma-joined keys of a chunked load's finalize."""
    return ",".join(ctx.chunk_keys) if ctx.chunk_keys is not None else ctx.partition


def process_sha256(process: Process) -> str:
    """sha256 of the process's effective configuration (canonical JSON, references unresolved)."""
    canonical = json.dumps(process.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
