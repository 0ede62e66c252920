"""A table of Parquet files on a store (a local folder or an S3 prefix), committed by commit objects.

Layout below the connection's root (keys)::

    <schema>/<table>/data/load=<load_id>/part-00000.parquet   immutable data files
    <schema>/<table>/_dpone/commits/<10**20 - seq>.json        one object per version (table_log)

A load writes its files, then creates the next version's commit object, which names the live
files, the schema, every process's state and the audit record: the commit is that one create.
Nothing is visible before it, a killed load leaves only unnamed files, and of two writers that
start from the same version exactly one commits (the other fails with a retryable conflict and
removes its files). Readers take the newest version's file list (``dpone_core.api.committed_files``)
instead of listing the folder. Files no version needs are removed once older than ``gc_grace``.
Strategies: full_refresh, append, incremental, partition_replace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.dataset as ds

from dpone_core.connectors.object_store import TABLE_STRATEGIES
from dpone_core.connectors.object_store.sql_access import dataset_access
from dpone_core.connectors.object_store.store import TableStore
from dpone_core.connectors.object_store.table_files import (
    FileWriter,
    StagedFiles,
    later_repeats,
    without_rows,
)
from dpone_core.connectors.object_store.table_log import RUNS_KEPT, DataFile, TableLog, TableVersion, schema_text
from dpone_core.errors import ConcurrentRunError, ConfigurationError, TerminalError
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.model import SEQ_COLUMN, StagedLoad, StrategyCounts, TableRef, TargetColumn, TargetSchema
from dpone_core.spi.ports import Sink, SinkBase, SqlAccess
from dpone_core.strategies.plan import LoadPlan, PartitionSpec


class LegacyTable(Protocol):
    """A table written in an older layout, read as version 0 until the first commit object."""

    @property
    def version(self) -> TableVersion | None:
        """Version 0 (None: there is no such table)."""
        ...

    def loads(self, process: str | None, since: datetime | None) -> list[dict[str, Any]]:
        """Its audit records, newest first."""
        ...

    def audit(self, process: str, run_id: str) -> dict[str, Any] | None:
        """Its audit record of ``run_id``."""
        ...


class ObjectTableSink(SinkBase):
    """A Parquet table on ``store`` at ``table`` (``schema.name``)."""

    def __init__(
        self,
        store: TableStore,
        table: str,
        *,
        partition: PartitionSpec | None = None,
        gc_grace: timedelta = timedelta(hours=24),
        legacy: LegacyTable | None = None,
    ) -> None:
        super().__init__()
        schema, name = split_table_name(table)
        self.table = TableRef(schema, name)
        self.store, self.partition, self.gc_grace = store, partition, gc_grace
        self.folder = "".join(f"{part}/" for part in (schema, name) if part)
        self.log = TableLog(store, self.folder)
        self.legacy = legacy
        self._staged: dict[str, StagedFiles] = {}
        self._observed: dict[str, int] = {}
        self._session: _TableCommit | None = None
        """Per process: the version whose state the run read first (its commit must build on it)."""

    # ---- descriptions ----------------------------------------------------------------------------
    def describe(self) -> str:
        """``parquet:<uri of the table folder>``."""
        return f"parquet:{self.store.uri(self.folder.rstrip('/'))}"

    def lineage_name(self) -> tuple[str, str]:
        """The store's namespace and the table folder."""
        return self.store.lineage_name(self.folder.rstrip("/"))

    def head(self) -> TableVersion | None:
        """The newest committed version (a folder written before commit objects counts as version 0)."""
        head = self.log.head()
        if head is None and self.legacy is not None:
            return self.legacy.version
        return head

    def committed_files(self) -> list[str]:
        """URIs of the newest version's data files: what an outside reader should read."""
        head = self.head()
        return [self.store.uri(f.key) for f in head.files] if head else []

    def written_objects(self, staged: StagedLoad) -> list[dict[str, Any]]:
        """The load's data files, as its evidence lists them."""
        files = self._staged.get(staged.load_id) or staged.handle
        if not isinstance(files, StagedFiles):
            return []
        return [
            {"uri": self.store.uri(f.key), "rows": f.rows, "size_bytes": f.size, "sha256": f.sha256}
            for f in files.files
        ]

    # ---- catalog, state, audit -------------------------------------------------------------------
    def target_schema(self) -> TargetSchema | None:
        """The committed schema, or None before the first load."""
        head = self.head()
        schema = head.arrow_schema() if head else None
        if schema is None:
            return None
        return TargetSchema(tuple(TargetColumn(f.name, f.type, f.nullable) for f in schema))

    def row_count(self) -> int | None:
        """Rows of the committed version (from the commit object), or None before the first load."""
        head = self.head()
        return head.rows if head and head.schema is not None else None

    def plan_ddl(self, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
        """Parquet files carry their own schema: there is never DDL to run."""
        return []

    def read_state(self, process: str) -> dict[str, Any] | None:
        """``process``'s state in the newest version (the first read pins the version the commit builds on)."""
        head = self.head()
        self._observed.setdefault(process, head.seq if head else 0)
        return head.states.get(process) if head else None

    def loads(self, process: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Audit records of the versions, newest first (stopping at ``since``)."""
        records: list[dict[str, Any]] = []
        for version in self.log.history():
            audit = version.audit
            if audit is None:
                continue
            record = {**audit, "finished_at": datetime.fromisoformat(str(audit["finished_at"]))}
            if since is not None and record["finished_at"] <= since:
                return records
            if process is None or record["process"] == process:
                records.append(record)
        return records + (self.legacy.loads(process, since) if self.legacy is not None else [])

    def committed_load(self, process: str, run_id: str) -> dict[str, Any] | None:
        """The audit record of ``run_id``'s committed load, if the newest version remembers it."""
        head = self.head()
        seq = head.run(process, run_id) if head else None
        if seq is None:
            return None
        if seq == 0:
            return self.legacy.audit(process, run_id) if self.legacy is not None else None
        version = self.log.version(seq)
        return dict(version.audit) if version and version.audit else None

    # ---- staging ---------------------------------------------------------------------------------
    def stage(self, reader: pa.RecordBatchReader, load_id: str, process: str = "load") -> StagedLoad:
        """Write the load's data files (final names, not yet live)."""
        folder = f"{self.folder}data/load={load_id}/"
        staged = FileWriter(self.store, folder, reader.schema, self.partition).write(reader)
        self._staged[load_id] = staged
        schema = pa.schema([f for f in reader.schema if f.name != SEQ_COLUMN])
        return StagedLoad(load_id, self.store.uri(folder), sum(f.rows for f in staged.files), schema, staged)

    def staged_duplicates(self, staged: StagedLoad, key: tuple[str, ...]) -> pa.Table:
        """Rows repeating ``key`` of an earlier row of the load."""
        return later_repeats(self.store, _files(staged), key)

    def discard_staged(self, staged: StagedLoad, seqs: pa.Array) -> StagedLoad:
        """Leave the rows at ``seqs`` out (their files are written again under new keys)."""
        kept = without_rows(self.store, staged.handle, set(seqs.to_pylist()))
        self._staged[staged.load_id] = kept
        rows = sum(f.rows for f in kept.files)
        return StagedLoad(staged.load_id, staged.location, rows, staged.schema, kept)

    def drop_staging(self, staged: StagedLoad) -> None:
        """Remove the load's files unless its version committed (best effort)."""
        files = self._staged.pop(staged.load_id, None) or staged.handle
        if isinstance(files, StagedFiles) and not files.committed:
            # Best effort: what is left is unnamed by any version, and the garbage collector removes it.
            with contextlib.suppress(Exception):
                self.store.delete([f.key for f in files.files])

    def cleanup_orphans(self, process: str) -> list[str]:
        """Remove data files no version since ``gc_grace`` names and older than it; their load ids."""
        from dpone_core.connectors.object_store.table_gc import collect_garbage

        head = self.log.head()
        if head is None:
            return []  # nothing committed in this layout yet: every file may still be a live load's
        older = [f.key for f in self.legacy.version.files] if self.legacy and self.legacy.version else []
        return collect_garbage(self.store, self.log, self.folder, self.gc_grace, head, older)

    # ---- commit ----------------------------------------------------------------------------------
    @contextmanager
    def finalize(self, process: str, load_id: str) -> Iterator[_TableCommit]:
        """The next version is created on clean exit; a lost race is a retryable conflict."""
        base = self.head()
        observed = self._observed.get(process)
        if observed is not None and (base.seq if base else 0) != observed:
            # Another load committed after this run read its state: committing on top would build
            # on a cursor this run never saw (a window loaded twice, or skipped).
            raise ConcurrentRunError(
                f"another load of {self.store.uri(self.folder)} committed version {base.seq if base else 0} "
                f"after this run read version {observed}; nothing was committed",
                step="finalize",
                fix="run again: the next attempt starts from the new version",
            )
        session = _TableCommit(self, process, load_id, base)
        self._session = session
        try:
            yield session
        finally:
            self._session = None
        version = session.version()
        if not self.log.commit(version):
            raise ConcurrentRunError(
                f"another load committed version {version.seq} of {self.store.uri(self.folder)} first",
                step="finalize",
                fix="run again: the next attempt starts from the new version",
            )
        staged = self._staged.get(load_id)
        if staged is not None:
            staged.committed = True

    def reconcile_access(self) -> SqlAccess | None:
        """Inside the finalize: the next version's files (kept and new), queried by an in-memory DuckDB."""
        session = self._session
        schema = session.arrow_schema() if session is not None else None
        if session is None or schema is None:
            return None
        paths = [self.store.path(f.key) for f in session.files]
        dataset = ds.dataset(paths, schema=schema, format="parquet", filesystem=self.store.filesystem)
        return dataset_access(dataset, "next_version")

    def read_target(self, columns: Sequence[str] | None = None) -> pa.Table:
        """All committed rows (in the committed schema)."""
        head = self.head()
        schema = head.arrow_schema() if head else None
        if head is None or schema is None:
            return pa.table({})
        paths = [self.store.path(f.key) for f in head.files]
        dataset = ds.dataset(paths, schema=schema, format="parquet", filesystem=self.store.filesystem)
        return dataset.to_table(columns=list(columns) if columns else None)

    def close(self) -> None:
        """Nothing to release (the clients close with the process)."""


if TYPE_CHECKING:

    def _is_a_sink(sink: ObjectTableSink) -> Sink:
        return sink  # mypy checks the class against the port here


def _files(staged: StagedLoad) -> list[DataFile]:
    handle = staged.handle
    assert isinstance(handle, StagedFiles)
    return handle.files


class _TableCommit:
    """Builds the next version from the one the load started on; nothing is written until the exit."""

    def __init__(self, sink: ObjectTableSink, process: str, load_id: str, base: TableVersion | None) -> None:
        self.sink, self.process, self.load_id, self.base = sink, process, load_id, base
        self.files: tuple[DataFile, ...] = base.files if base else ()
        self.schema: str | None = base.schema if base else None
        self.audit: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None

    def apply_ddl(self, statements: list[str]) -> None:
        """Parquet has no DDL."""

    def apply_strategy(self, plan: LoadPlan) -> StrategyCounts:
        """Choose the live files of the next version."""
        if plan.strategy not in TABLE_STRATEGIES:
            raise ConfigurationError(
                f"a parquet table supports {', '.join(sorted(TABLE_STRATEGIES))}, not {plan.strategy}",
                step="finalize",
                fix="use a database sink (or a delta table) for merge and scd2",
            )
        staged = self.sink._staged.get(self.load_id)
        new = tuple(staged.files) if staged else ()
        counts = StrategyCounts(inserted=sum(f.rows for f in new))
        previous = self.files
        if plan.strategy == "full_refresh":
            kept: tuple[DataFile, ...] = ()
        elif plan.strategy == "partition_replace":
            slices = {f.partition for f in new}
            kept = tuple(f for f in previous if f.partition not in slices)
        else:
            kept = previous
        counts.deleted = sum(f.rows for f in previous) - sum(f.rows for f in kept)
        self.files = kept + new
        self.schema = self._schema(staged, kept)
        return counts

    def _schema(self, staged: StagedFiles | None, kept: tuple[DataFile, ...]) -> str | None:
        incoming = staged.schema if staged is not None else None
        current = self.base.arrow_schema() if self.base else None
        if incoming is None:
            return self.schema
        if current is None or not kept:
            return schema_text(incoming)
        try:
            return schema_text(pa.unify_schemas([current, incoming]))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise TerminalError(
                f"the load's columns do not fit the table's: {exc}",
                step="finalize",
                fix="keep column types stable, or full_refresh the table",
            ) from None

    def record(self, audit: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Keep the audit record and state for the commit object."""
        now = datetime.now(UTC).isoformat()
        self.audit = {**audit, "finished_at": now, "started_at": str(audit["started_at"])}
        self.state = None if state is None else {**state, "updated_at": now}

    def arrow_schema(self) -> pa.Schema | None:
        """The schema of the version this commit builds (None before the strategy ran)."""
        if self.schema is None:
            return None
        return TableVersion(0, self.files, self.schema, {}, {}, None).arrow_schema()

    def version(self) -> TableVersion:
        """The version this commit creates."""
        base = self.base
        seq = (base.seq if base else 0) + 1
        states = dict(base.states) if base else {}
        if self.state is not None:
            states[self.process] = self.state
        runs = {name: list(entries) for name, entries in (base.runs if base else {}).items()}
        run_id = (self.audit or {}).get("run_id")
        if run_id:
            runs[self.process] = [*runs.get(self.process, []), [run_id, self.load_id, seq]][-RUNS_KEPT:]
        return TableVersion(seq, self.files, self.schema, states, runs, self.audit)
