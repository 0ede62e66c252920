"""Maintenance per sink after a stage: the statements each connector declares (``ConnectorSpec.maintenance``).

Statements run through the sink's own connection (``Sink.maintain``), one connection at a time:
the per-connection ones once (DuckDB's CHECKPOINT flushes the write-ahead log into the file), the
per-table ones for every loaded table (Postgres refreshes planner statistics with ``ANALYZE``,
which runs inside a transaction, unlike ``VACUUM``, left to autovacuum). Connectors that declare
none are reported as skipped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dpone_core.connections.registry import connector
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.runtime.runner import error_entry


@dataclass(frozen=True)
class MaintenanceResult:
    """What maintenance did on one sink connection."""

    connection: str
    type: str
    status: Literal["done", "skipped", "failed"]
    statements: tuple[str, ...] = ()
    seconds: float = 0.0
    error: str | None = None
    tables: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the execution result."""
        return {
            "connection": self.connection,
            "type": self.type,
            "status": self.status,
            "statements": list(self.statements),
            "seconds": round(self.seconds, 4),
            "error": self.error,
            "tables": list(self.tables),
        }


def run_maintenance(loaded: LoadedManifest, processes: Sequence[Process]) -> list[MaintenanceResult]:
    """Maintain every sink connection the ``processes`` write to; never raises for a failed statement."""
    from dpone_core.connectors.endpoints import open_sink

    by_connection: dict[str, list[Process]] = {}
    for process in processes:
        by_connection.setdefault(process.sink.connection, []).append(process)
    results: list[MaintenanceResult] = []
    for name, members in by_connection.items():
        kind = loaded.manifest.connections[name].type
        plan = connector(kind).maintenance
        if not plan.per_connection and not plan.per_table:
            results.append(MaintenanceResult(name, kind, "skipped", error=f"no maintenance for {kind} sinks"))
            continue
        clock = time.monotonic()
        done: list[str] = []
        tables: list[str] = []
        try:
            for index, process in enumerate(members):
                sink = open_sink(loaded.manifest, process, loaded.base_dir)
                try:
                    statements = [*(plan.per_connection if index == 0 else ()), *plan.per_table]
                    for statement in statements:
                        done += sink.maintain([statement])
                    tables.append(sink.table.display())
                finally:
                    sink.close()
        except Exception as exc:  # noqa: BLE001 - maintenance is best effort; the loads already committed
            results.append(
                MaintenanceResult(
                    name,
                    kind,
                    "failed",
                    tuple(done),
                    time.monotonic() - clock,
                    error_entry(exc, None).line,
                    tuple(tables),
                )
            )
            continue
        results.append(
            MaintenanceResult(name, kind, "done", tuple(done), time.monotonic() - clock, tables=tuple(tables))
        )
    return results
