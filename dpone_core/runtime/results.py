"""The RunResult of an attempt, assembled from what its steps produced."""

from __future__ import annotations

from typing import Any

from dpone_core.model import StagedLoad, StrategyCounts, TargetSchema
from dpone_core.runtime.pipeline import GatedStream
from dpone_core.runtime.report import GateVerdict, RunResult
from dpone_core.spi.ports import SCAN_LOCATION, Sink, Source


def load_result(
    sink: Sink,
    source: Source,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    ddl: list[str],
    warnings: list[str],
    step_seconds: dict[str, float],
    gates: list[GateVerdict],
    stream: GatedStream | None = None,
    staged: StagedLoad | None = None,
    counts: StrategyCounts | None = None,
    artifacts: list[dict[str, Any]] | None = None,
    target: TargetSchema | None = None,
) -> RunResult:
    """Counts from the stream, staging and strategy; a planned attempt passes none of them.

    A direct load has no staging count of its own (``rows == -1``): the rows that passed the
    gates are the rows it wrote.
    """
    stats = stream.stats if stream else None
    path = None
    if staged is not None:
        relayed = counts is not None and any(name.startswith("relay_into_") for name in counts.details)
        direct = staged.location in {"direct", SCAN_LOCATION}
        path = "relay" if relayed else (staged.location if direct else "staged")
    return RunResult(
        write_path=path,
        extracted_rows=stats.extracted if stats else 0,
        staged_rows=(staged.rows if staged.rows >= 0 else stats.passed if stats else 0) if staged else 0,
        inserted_rows=counts.inserted if counts else 0,
        updated_rows=counts.updated if counts else 0,
        deleted_rows=counts.deleted if counts else 0,
        quarantined_rows=stats.quarantined if stats else 0,
        warnings=list(warnings),
        step_seconds=step_seconds,
        gates=list(gates),
        ddl=ddl,
        quarantine_paths=[a["path"] for a in artifacts or []],
        state_before=before,
        state_after=after,
        source=source.describe(),
        target=sink.describe(),
        target_schema=[
            {"name": c.name, "type": str(c.type), "nullable": c.nullable, "physical_type": sink.physical_type(c)}
            for c in target.columns
        ]
        if target
        else [],
    )
