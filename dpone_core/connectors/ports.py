"""The Source and Sink ports every connector implements, and the plain data they exchange.

Data moves as ``pyarrow.RecordBatch``es of bounded size; nothing here holds a table in Python
objects. A sink commits in one finalize session: DDL, strategy, audit row and state together.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pyarrow as pa

SEQ_COLUMN = "__dpone_seq"
"""Ordinal added to staged rows so duplicates can be resolved deterministically (first one wins)."""


@dataclass(frozen=True)
class Predicate:
    """A filter a source pushes down: ``column op value``."""

    column: str
    op: Literal[">", ">=", "<", "<=", "=="]
    value: Any


@dataclass(frozen=True)
class ReadRequest:
    """What the runtime asks a source for."""

    columns: tuple[str, ...] | None = None
    predicates: tuple[Predicate, ...] = ()
    batch_rows: int = 65_536
    batch_bytes: int = 1 << 20
    text_columns: frozenset[str] = frozenset()
    """Columns a text-format source (CSV) must hand over as strings so the contract types them per row."""


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


@dataclass(frozen=True)
class TableRef:
    """A (schema, name) pair; rendering and quoting belong to the dialect."""

    schema: str | None
    name: str

    def display(self) -> str:
        """Unquoted dotted form for messages."""
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class TargetColumn:
    """One column of an existing or planned target table."""

    name: str
    type: pa.DataType
    nullable: bool = True
    native_type: str | None = field(default=None, compare=False)
    """The database's own type, rendered by its catalog, when ``type`` only stands in for it (an enum
    or inet column described as text): values are cast to it explicitly. None when ``type`` is faithful."""


@dataclass(frozen=True)
class TargetSchema:
    """What the sink's catalog says about the target table."""

    columns: tuple[TargetColumn, ...]
    primary_key: tuple[str, ...] = ()

    def column(self, name: str) -> TargetColumn | None:
        """Return the column called ``name`` or None."""
        return next((c for c in self.columns if c.name == name), None)

    def arrow_schema(self) -> pa.Schema:
        """The table as an Arrow schema (nullability kept)."""
        return pa.schema([pa.field(c.name, c.type, c.nullable) for c in self.columns])


@dataclass(frozen=True)
class StagedLoad:
    """Rows bulk-loaded into staging and not yet visible in the target."""

    load_id: str
    location: str
    rows: int
    schema: pa.Schema
    """Schema of the staged data columns (without the sequence column)."""
    handle: Any = None


@dataclass
class StrategyCounts:
    """Rows the strategy changed in the target."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    details: dict[str, int] = field(default_factory=dict)


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


def iter_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """Iterate a reader batch by batch (typing helper)."""
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return
