"""Maintenance per sink after a stage: DuckDB CHECKPOINT, Postgres ANALYZE, ClickHouse OPTIMIZE.

Statements run through the sink connector's own ``execute`` (the same connection code as a load), one
connection at a time. DuckDB checkpoints once per database file (it flushes the write-ahead log into
the file); Postgres refreshes planner statistics of each loaded table (``ANALYZE`` runs inside a
transaction, unlike ``VACUUM``, which is left to autovacuum); ClickHouse merges parts of each
table when a ClickHouse sink is available in this build. Other sinks are reported as skipped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.runtime.runner import error_entry

PER_DATABASE = {"duckdb": ("CHECKPOINT",)}
PER_TABLE = {"postgres": ("ANALYZE {table}",), "clickhouse": ("OPTIMIZE TABLE {table} FINAL",)}


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


def _statements(sink: Any, kind: str) -> list[str]:
    table = sink.dialect.table(sink.table)
    return [s.format(table=table) for s in PER_TABLE.get(kind, ())]


def run_maintenance(loaded: LoadedManifest, processes: Sequence[Process]) -> list[MaintenanceResult]:
    """Maintain every sink connection the ``processes`` write to; never raises for a failed statement."""
    from dpone_core.connectors.registry import open_sink

    by_connection: dict[str, list[Process]] = {}
    for process in processes:
        by_connection.setdefault(process.sink.connection, []).append(process)
    results: list[MaintenanceResult] = []
    for name, members in by_connection.items():
        kind = loaded.manifest.connections[name].type
        if kind not in PER_DATABASE and kind not in PER_TABLE:
            results.append(MaintenanceResult(name, kind, "skipped", error=f"no maintenance for {kind} sinks"))
            continue
        clock = time.monotonic()
        done: list[str] = []
        tables: list[str] = []
        try:
            for index, process in enumerate(members):
                sink = open_sink(loaded.manifest, process, loaded.base_dir)
                try:
                    statements = list(PER_DATABASE.get(kind, ())) if index == 0 else []
                    statements += _statements(sink, kind)
                    for statement in statements:
                        sink.execute(statement)
                        done.append(statement)
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
