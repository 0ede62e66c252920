"""The ports a connector implements, as Protocols the runtime passes around.

A source is a :class:`Source`; a sink is a :class:`Sink`, made of separate ports (catalog,
stager, committer, state store, audit log). Features only some connectors have (a direct load, a
binary relay, key ranges, source-held state) are methods of these ports too, with neutral
defaults in :class:`SourceBase` / :class:`SinkBase`; the runtime calls them only where the
connector's ``Capabilities`` (``ConnectorSpec.capabilities``) say they do something.

Data moves as ``pyarrow.RecordBatch``es of bounded size; nothing here holds a table in Python
objects. A sink commits in one finalize session: DDL, strategy, audit row and state together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from dpone_core.model import ReadRequest, StagedLoad, StrategyCounts, TableRef, TargetColumn, TargetSchema
from dpone_core.spi.scans import SCAN_LOCATION, FileScan, ScannedRows, ScanRefused, ScanViolation

__all__ = ["SCAN_LOCATION", "FileScan", "ScanRefused", "ScanViolation", "ScannedRows"]

if TYPE_CHECKING:
    import pyarrow as pa

    from dpone_core.gates.contract import ContractGate
    from dpone_core.strategies.plan import LoadPlan


@dataclass(frozen=True)
class SqlAccess:
    """A table reachable by SQL, for reconciling it where it lives (``dpone_core.reconcile.SqlSide``).

    ``query`` runs one statement with named parameters in the dialect's own style (``%(name)s``,
    ``$name``, ``{name:Type}``) and returns its rows; a sink hands the query function of its open
    finalize transaction, so the check sees the load before it commits.
    """

    dialect: str
    """``postgres``, ``duckdb`` or ``clickhouse``."""
    query: Callable[[str, Mapping[str, Any]], Sequence[Sequence[Any]]]
    schema: str | None
    table: str
    scope: str | None = None
    """What the table holds when it is not the target's whole new version: a sink that publishes
    only after its checks (ClickHouse appends, Delta) hands the load's staged rows, and says so."""


class RelayRefused(Exception):
    """A sink declined a relay (its target's types differ, or a row needs the gates): read as Arrow instead.

    Raised inside the finalize transaction, before the commit; the runtime rolls back and runs the
    load again through the Arrow stream, whose gates then decide and report.
    """


class RelayOffer(Protocol):
    """A source's rows as the system's own bytes, for a sink of the same system (see ``binary_relay``)."""

    def report_rows_to(self, callback: Callable[[int], None]) -> None:
        """Call ``callback`` with each number of rows relayed (progress and the stream's counts)."""
        ...

    def close(self) -> None:
        """Stop the relay's reader if it still runs."""
        ...


class Described(Protocol):
    """Names for messages and lineage."""

    def describe(self) -> str:
        """Short human description, e.g. ``duckdb:warehouse.duckdb/analytics.orders``."""
        ...

    def lineage_name(self) -> tuple[str, str]:
        """(namespace, name) for lineage, e.g. ``("file", "/data/orders")``."""
        ...

    def database_identity(self) -> str | None:
        """The database this end lives in (one server database, one file), or None for files.

        Two ends with the same identity share locks: the runtime keeps a load from waiting on its
        own source (see ``runtime/direct.py``).
        """
        ...


class Source(Described, Protocol):
    """Reads a table, query or file set as a stream of Arrow batches."""

    notes: list[str]
    """Warnings the source gathered while planning its read (shown in the report)."""

    def read(self, request: ReadRequest) -> pa.RecordBatchReader:
        """Open a reader whose schema is known before the first batch."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...

    def is_stored_table(self) -> bool | None:
        """Whether a table source is a stored table (not a view); None when the source cannot tell."""
        ...

    def key_bounds(self, column: str) -> tuple[int, int] | None:
        """Minimum and maximum of an integer key column (``partitions.ranges``; ``key_bounds`` capability)."""
        ...

    def use_held_state(self, committed: dict[str, Any] | None) -> None:
        """Read past the state the source keeps itself (``own_state_modes`` capability), from its committed value."""
        ...

    def held_state(self) -> dict[str, Any] | None:
        """The source's own state after a complete read, committed with the load (``own_state_modes``)."""
        ...

    def binary_relay(self, contract: ContractGate) -> RelayOffer | None:
        """Offer the rows as the system's own bytes, when nothing in the contract needs them decoded."""
        ...

    def reconcile_access(self) -> SqlAccess | None:
        """The source table by SQL, for the reconcile gate (None: the gate reads it as Arrow)."""
        ...

    def file_scan(self) -> FileScan | None:
        """The rows of the read opened last as files a sink's engine may read itself, or None."""
        ...


class FinalizeSession(Protocol):
    """One open commit on the target, holding the per-process lease."""

    def apply_ddl(self, statements: list[str]) -> None:
        """Run the physical DDL decided by the gates."""
        ...

    def apply_strategy(self, plan: LoadPlan) -> StrategyCounts:
        """Move staged rows into the target as the plan says; return what changed."""
        ...

    def record(self, audit: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Write the audit row and the process state with the commit."""
        ...


class Catalog(Protocol):
    """What the target looks like, and the DDL that changes it."""

    def target_schema(self) -> TargetSchema | None:
        """The target table as it exists now, or None when it does not exist."""
        ...

    def plan_ddl(self, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
        """Render the DDL that turns ``current`` into ``desired`` (create, add, widen)."""
        ...

    def widening_blocks_writers(self, current: pa.DataType, incoming: pa.DataType) -> bool:
        """Widening a column from ``current`` to ``incoming`` rewrites the table (blocking writers)."""
        ...

    def row_count(self) -> int | None:
        """Rows in the target now, or None when it does not exist."""
        ...

    def physical_type(self, column: TargetColumn) -> str | None:
        """The database's own type of ``column`` (``numeric(18,2)``), for lineage; None: the Arrow type is it."""
        ...


class Stager(Protocol):
    """Rows of a load held apart from the target until the commit."""

    def stage(self, reader: pa.RecordBatchReader, load_id: str, process: str) -> StagedLoad:
        """Bulk-load the stream into staging (a sequence column is added by the runtime)."""
        ...

    def staged_duplicates(self, staged: StagedLoad, key: tuple[str, ...]) -> pa.Table:
        """Rows of staging whose ``key`` already appeared earlier in the load (first one wins)."""
        ...

    def discard_staged(self, staged: StagedLoad, seqs: pa.Array) -> StagedLoad:
        """Remove staged rows by sequence number; returns the updated staged load."""
        ...

    def drop_staging(self, staged: StagedLoad) -> None:
        """Remove staging after commit or failure (best effort, never raises)."""
        ...

    def cleanup_orphans(self, process: str) -> list[str]:
        """Drop staging left behind by crashed runs of ``process``; returns what was dropped."""
        ...


class DirectLoader(Protocol):
    """A target that takes the gated stream inside its commit (``direct_load`` capability)."""

    def direct_load_allowed(self, strategy: str, primary_key: Sequence[str]) -> bool:
        """The existing target may take the stream directly for this strategy."""
        ...

    def register_stream(self, name: str, reader: pa.RecordBatchReader) -> None:
        """Keep the stream; the finalize's strategy reads it under ``name``."""
        ...

    def unregister_stream(self, name: str) -> None:
        """Forget a stream (and its relay)."""
        ...

    def register_relay(self, name: str, relay: RelayOffer) -> None:
        """Offer the registered stream's rows as a relay (``binary_relay`` capability)."""
        ...


class FileReader(Protocol):
    """A target whose engine reads a source's files itself (``reads_files`` capability)."""

    def scan_files(
        self, name: str, scan: FileScan, contract: ContractGate, *, split: bool, unique: Sequence[tuple[str, ...]]
    ) -> ScannedRows:
        """Expose the scanned rows to SQL under ``name`` (read by the finalize's strategy as staging).

        The contract's rules run as SQL over the scan. Without ``split`` no row may break them: the
        scan counts only the files' rows, and a breaking row raises :class:`ScanViolation` when a
        statement reads it (inside the finalize, which rolls back). With ``split`` one aggregate
        counts each rule's failures first, ``name`` holds only the rows that pass, and the rejected
        rows come back to be quarantined. ``unique``: keys whose values must not repeat within the
        scan (a repeat raises :class:`ScanRefused`). Anything the engine would read or judge other
        than the Arrow path raises :class:`ScanRefused` before a statement runs.
        """
        ...


class Committer(Protocol):
    """The commit: DDL, strategy, audit row and state as one step."""

    def finalize(self, process: str, load_id: str) -> AbstractContextManager[FinalizeSession]:
        """Open the commit; it happens on clean exit, and nothing of it on any exception."""
        ...


class StateStore(Protocol):
    """Committed process state (cursor, offsets, source-held state)."""

    def read_state(self, process: str) -> dict[str, Any] | None:
        """The committed state of ``process``, or None before its first load."""
        ...


class AuditLog(Protocol):
    """Committed loads, one audit record each."""

    def committed_load(self, process: str, run_id: str) -> dict[str, Any] | None:
        """The audit record of a committed load of ``process`` with ``run_id``, if any."""
        ...

    def loads(self, process: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Committed audit records, newest first."""
        ...


class Sink(Described, Catalog, Stager, DirectLoader, FileReader, Committer, StateStore, AuditLog, Protocol):
    """Writes staged batches and commits them with audit and state, exactly once where possible."""

    table: TableRef
    """The target table."""

    def read_target(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The whole target table as Arrow (for IO managers and small checks)."""
        ...

    def committed_files(self) -> list[str] | None:
        """For a table of files: the URIs of the committed version's files (None for a database)."""
        ...

    def written_objects(self, staged: StagedLoad) -> list[dict[str, Any]]:
        """For a store of files: the objects this load wrote (uri, rows, size_bytes, sha256), for evidence."""
        ...

    def maintain(self, statements: Sequence[str]) -> list[str]:
        """Run maintenance statements (``{table}`` replaced by the target's quoted name); return them as run."""
        ...

    def reconcile_access(self) -> SqlAccess | None:
        """Inside an open finalize: the load's new version of the target by SQL, as it will commit
        (None: the sink cannot show it before its commit, and the reconcile gate says so)."""
        ...

    def load_follows(self) -> None:
        """Rows will move (the run id has not committed): start what the load needs, in the background."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class SourceBase:
    """Neutral defaults for a source's optional features; a connector overrides what it has."""

    notes: list[str]

    def __init__(self) -> None:
        self.notes = []

    def database_identity(self) -> str | None:
        """None: files (no shared locks)."""
        return None

    def is_stored_table(self) -> bool | None:
        """Unknown."""
        return None

    def key_bounds(self, column: str) -> tuple[int, int] | None:
        """Not supported."""
        return None

    def use_held_state(self, committed: dict[str, Any] | None) -> None:
        """No state of its own."""

    def held_state(self) -> dict[str, Any] | None:
        """No state of its own."""
        return None

    def binary_relay(self, contract: ContractGate) -> RelayOffer | None:
        """No relay."""
        return None

    def reconcile_access(self) -> SqlAccess | None:
        """Not by SQL: the reconcile gate reads the rows as Arrow."""
        return None

    def file_scan(self) -> FileScan | None:
        """Not files a sink can read."""
        return None


class SinkBase:
    """Neutral defaults for a sink's optional features; a connector overrides what it has."""

    def load_follows(self) -> None:
        """Nothing to start ahead of the load."""

    def committed_files(self) -> list[str] | None:
        """None: the target is not a set of files."""
        return None

    def written_objects(self, staged: StagedLoad) -> list[dict[str, Any]]:
        """None written: the rows went into a database."""
        return []

    def database_identity(self) -> str | None:
        """None: no database shared with a source."""
        return None

    def widening_blocks_writers(self, current: pa.DataType, incoming: pa.DataType) -> bool:
        """New data carries the new type; nothing is rewritten."""
        return False

    def physical_type(self, column: TargetColumn) -> str | None:
        """The catalog's own type when it named one; files store the Arrow type itself."""
        return column.native_type

    def direct_load_allowed(self, strategy: str, primary_key: Sequence[str]) -> bool:
        """Only into a table the load creates."""
        return False

    def register_stream(self, name: str, reader: pa.RecordBatchReader) -> None:
        """Direct loads are not supported."""
        raise NotImplementedError(f"{type(self).__name__} has no direct load")

    def unregister_stream(self, name: str) -> None:
        """Nothing registered."""

    def register_relay(self, name: str, relay: RelayOffer) -> None:
        """Relays are not supported."""
        raise NotImplementedError(f"{type(self).__name__} takes no binary relay")

    def scan_files(
        self, name: str, scan: FileScan, contract: ContractGate, *, split: bool, unique: Sequence[tuple[str, ...]]
    ) -> ScannedRows:
        """The engine reads no files itself."""
        raise ScanRefused(f"{type(self).__name__} reads no files itself")

    def maintain(self, statements: Sequence[str]) -> list[str]:
        """No maintenance."""
        return []

    def reconcile_access(self) -> SqlAccess | None:
        """The new version cannot be read before the commit."""
        return None
