"""The ports a connector implements, as Protocols the runtime passes around.

Data moves as ``pyarrow.RecordBatch``es of bounded size; nothing here holds a table in Python
objects. A sink commits in one finalize session: DDL, strategy, audit row and state together.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import pyarrow as pa

from dpone_core.model import ReadRequest, StagedLoad, StrategyCounts, TargetSchema


class RelayRefused(Exception):
    """A sink declined a relay (its target's types differ, or a row needs the gates): read as Arrow instead.

    Raised inside the finalize transaction, before the commit; the runtime rolls back and runs the
    load again through the Arrow stream, whose gates then decide and report.
    """


class Source(Protocol):
    """Reads a table, query or file set as a stream of Arrow batches."""

    def describe(self) -> str:
        """Short human description for plans and lineage, e.g. ``files:data/orders/*.csv``."""
        ...

    def lineage_name(self) -> tuple[str, str]:
        """(namespace, name) for lineage, e.g. ``("file", "/data/orders")``."""
        ...

    def read(self, request: ReadRequest) -> pa.RecordBatchReader:
        """Open a reader whose schema is known before the first batch."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class FinalizeSession(Protocol):
    """One open transaction on the target, holding the per-process lease."""

    def apply_ddl(self, statements: list[str]) -> None:
        """Run the physical DDL decided by the gates."""
        ...

    def apply_strategy(self, plan: Any) -> StrategyCounts:
        """Move staged rows into the target as the plan says; return what changed."""
        ...

    def record(self, audit: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Insert the audit row and upsert the process state (same transaction)."""
        ...


class Sink(Protocol):
    """Writes staged batches and commits them with audit and state, exactly once where possible."""

    def describe(self) -> str:
        """Short human description, e.g. ``duckdb:warehouse.duckdb/analytics.orders``."""
        ...

    def lineage_name(self) -> tuple[str, str]:
        """(namespace, name) for lineage."""
        ...

    def target_schema(self) -> TargetSchema | None:
        """The target table as it exists now, or None when it does not exist."""
        ...

    def plan_ddl(self, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
        """Render the DDL that turns ``current`` into ``desired`` (create, add, widen)."""
        ...

    def read_state(self, process: str) -> dict[str, Any] | None:
        """The committed state of ``process`` (cursor and friends), or None before its first load."""
        ...

    def committed_load(self, process: str, run_id: str) -> dict[str, Any] | None:
        """The audit row of a committed load of ``process`` with ``run_id``, if any."""
        ...

    def stage(self, reader: pa.RecordBatchReader, load_id: str) -> StagedLoad:
        """Bulk-load the stream into staging (a sequence column is added by the runtime)."""
        ...

    def staged_duplicates(self, staged: StagedLoad, key: tuple[str, ...]) -> pa.Table:
        """Rows of staging whose ``key`` already appeared earlier in the load (first one wins)."""
        ...

    def discard_staged(self, staged: StagedLoad, seqs: pa.Array) -> StagedLoad:
        """Remove staged rows by sequence number; returns the updated staged load."""
        ...

    def finalize(self, process: str, load_id: str) -> AbstractContextManager[FinalizeSession]:
        """Open the finalize transaction; commit on clean exit, roll back on any exception."""
        ...

    def drop_staging(self, staged: StagedLoad) -> None:
        """Remove staging after commit or failure (best effort, never raises)."""
        ...

    def cleanup_orphans(self, process: str) -> list[str]:
        """Drop staging left behind by crashed runs of ``process``; returns what was dropped."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
