"""DuckDB sink: staging as Parquet files, finalize in one DuckDB transaction.

DuckDB allows one writing process per file, so the file lock is the per-process lease: a second
run of any process on the same file fails fast with DPONE_ALREADY_RUNNING (retryable).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from dpone_core.connectors.duckdb.connection import connect, out_of_memory
from dpone_core.connectors.duckdb.file_scan import GUARD, files_name, scan_files
from dpone_core.connectors.duckdb.profile import DuckDBProfile, database_path
from dpone_core.connectors.duckdb.sql import DuckDBDialect
from dpone_core.connectors.sql.sink import SqlFinalizeSession, SqlSink, staging_name
from dpone_core.errors import DuplicateKeyError, TransientError
from dpone_core.gates.contract import ContractGate
from dpone_core.model import (
    SEQ_COLUMN,
    StagedLoad,
    StrategyCounts,
    TableRef,
    TargetColumn,
    TargetSchema,
    iter_batches,
)
from dpone_core.spi.ports import SCAN_LOCATION, FileScan, ScannedRows, ScanViolation, SqlAccess
from dpone_core.strategies.plan import LoadPlan


class DuckDBSink(SqlSink):
    """Writes into a table of a DuckDB database file."""

    dialect = DuckDBDialect()

    def __init__(
        self,
        profile: DuckDBProfile,
        base_dir: Path,
        table: TableRef,
        staging_schema: str,
        meta_schema: str | None,
        *,
        read_only: bool = False,
    ) -> None:
        super().__init__(table, staging_schema, meta_schema)
        self.new_table: NewTable | None = None
        """The new keyed table :meth:`plan_ddl` rendered last (None: the target exists, or has no key)."""
        self.defer_key = False
        """A file scan proved the new table's key unique (and no memory_limit is set): the finalize adds
        the key after the rows (:class:`NewTable`)."""
        self.path = database_path(profile, base_dir)
        self.memory_limit = profile.memory_limit
        if read_only and not self.path.exists():
            # A plan of a first load: describe an empty database without creating the file.
            self.con = duckdb.connect(":memory:")
        else:
            self.con = connect(profile, base_dir, read_only=read_only)

    def plan_ddl(self, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
        """DDL turning ``current`` into ``desired``; a new keyed table's is remembered (see :class:`NewTable`)."""
        statements = super().plan_ddl(current, desired)
        self.new_table, self.defer_key = None, False  # a new attempt: only its own scan may prove the key
        if current is None and desired.primary_key:
            keys = self.dialect.column_list(list(desired.primary_key))
            self.new_table = NewTable(
                statements[0],
                self.dialect.create_table_sql(self.table, TargetSchema(desired.columns, ())),
                f"ALTER TABLE {self.dialect.table(self.table)} ADD PRIMARY KEY ({keys})",
                desired.primary_key,
            )
        return statements

    def session(self, process: str) -> DuckDBFinalizeSession:
        """The finalize session that may add a new table's key after its first rows (:class:`NewTable`)."""
        return DuckDBFinalizeSession(self, process)

    def describe(self) -> str:
        """``duckdb:<file>/<table>``."""
        return f"duckdb:{self.path.name}/{self.table.display()}"

    def lineage_name(self) -> tuple[str, str]:
        """OpenLineage-style namespace and name."""
        return f"duckdb://{self.path}", self.table.display()

    def database_identity(self) -> str:
        """The database file."""
        return f"duckdb://{self.path}"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; DuckDB returns the affected row count as a one-row result."""
        try:
            result = self.con.execute(sql, list(params))
        except duckdb.ConstraintException as exc:
            raise DuplicateKeyError(
                f"the target rejected a row: {exc}",
                step="finalize",
                fix="deduplicate the source or declare the key unique in schema_contract",
            ) from None
        except duckdb.Error as exc:
            raise self.translate_error(exc, "finalize") from None
        try:
            row = result.fetchone()
        except Exception:  # noqa: BLE001 - DDL has no result set
            return -1
        return int(row[0]) if row and isinstance(row[0], int) else -1

    def translate_error(self, exc: duckdb.Error, step: str) -> Exception:
        """Out of memory and write conflicts as dpone errors, a file scan's guard as its refusal; else unchanged."""
        if GUARD in str(exc):
            return ScanViolation("a scanned row breaks the data contract")
        memory = out_of_memory(exc, self.memory_limit, step)
        if memory is not None:
            return memory
        if isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower():
            return TransientError(
                f"DuckDB write conflict with another writer of {self.path.name}: {exc}",
                step=step,
                fix="retry; give concurrent processes different DuckDB files or run them in sequence",
            )
        return exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a small query."""
        return list(self.con.execute(sql, list(params)).fetchall())

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Query straight into Arrow."""
        return self.con.sql(sql, params=list(params) or None).to_arrow_table()

    def begin(self) -> None:
        """BEGIN."""
        self.con.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        """COMMIT (the PK index is written here: memory runs out here if anywhere)."""
        try:
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            raise self.translate_error(exc, "finalize") from None

    def rollback(self) -> None:
        """ROLLBACK, ignoring 'no transaction is active'."""
        try:
            self.con.execute("ROLLBACK")
        except Exception:  # noqa: BLE001
            return

    @property
    def staging_dir(self) -> Path:
        """Folder beside the database file where loads are staged as Parquet."""
        return self.path.with_name(self.path.name + ".dpone_staging")

    def stage(self, reader: pa.RecordBatchReader, load_id: str, process: str = "load") -> StagedLoad:
        """Stage as Parquet files beside the database, exposed to SQL as a TEMP view.

        Writing Parquet keeps memory flat (DuckDB's in-memory temp tables grew with the load), and
        DuckDB then reads the files in parallel in the finalize statements. The files are removed
        after the load; files of a killed run are removed by the next run of the process.
        """
        ref = TableRef("temp", staging_name(process, load_id))
        data_schema = pa.schema([f for f in reader.schema if f.name != SEQ_COLUMN])
        folder = self.staging_dir / staging_name(process, load_id)
        folder.mkdir(parents=True, exist_ok=True)
        rows = 0
        try:
            # Transient files: no dictionaries or statistics (they doubled the write time), fast lz4.
            writer = pq.ParquetWriter(
                str(folder / "part-0000.parquet"),
                reader.schema,
                compression="lz4",
                use_dictionary=False,
                write_statistics=False,
            )
        except pa.ArrowNotImplementedError:
            # A type Parquet cannot hold (intervals): stage into a TEMP table instead (memory-bound).
            shutil.rmtree(folder, ignore_errors=True)
            return StagedLoad(load_id, "", self.bulk_stage(reader, ref), data_schema, ref)
        with writer:
            for batch in iter_batches(reader):
                writer.write_batch(batch)
                rows += batch.num_rows
        self._create_view(ref, folder)
        return StagedLoad(load_id, str(folder), rows, data_schema, ref)

    def _create_view(self, ref: TableRef, folder: Path, discarded: TableRef | None = None) -> None:
        files = self.dialect.literal(str(folder / "*.parquet"))
        where = ""
        if discarded is not None:
            seq = self.dialect.quote(SEQ_COLUMN)
            where = f" WHERE {seq} NOT IN (SELECT {seq} FROM {self.dialect.table(discarded)})"
        self.execute(
            f"CREATE OR REPLACE TEMP VIEW {self.dialect.quote(ref.name)} AS SELECT * FROM read_parquet({files}){where}"
        )

    def direct_load_allowed(self, strategy: str, primary_key: Sequence[str]) -> bool:
        """A full_refresh streams into the existing table when the table's own primary key is the load's key
        (or the load has none).

        Its DELETE and INSERT run in the finalize transaction, as they do over staging, without
        writing and reading the rows as Parquet first (the file lock keeps every other writer out). A
        duplicate key then fails the INSERT, and the runtime reads again through staging, where the
        contract decides.
        """
        if strategy != "full_refresh":
            return False
        current = self.target_schema()
        return current is not None and (not primary_key or sorted(current.primary_key) == sorted(primary_key))

    def register_stream(self, name: str, reader: pa.RecordBatchReader) -> None:
        """Expose an Arrow stream to SQL under ``name`` (for direct first loads)."""
        self.con.register(name, reader)

    def unregister_stream(self, name: str) -> None:
        """Remove a stream registered with :meth:`register_stream`."""
        with contextlib.suppress(Exception):
            self.con.unregister(name)

    def scan_files(
        self, name: str, scan: FileScan, contract: ContractGate, *, split: bool, unique: Sequence[tuple[str, ...]]
    ) -> ScannedRows:
        """DuckDB reads the files itself into the TEMP view ``name`` (see :mod:`.file_scan`)."""
        return scan_files(self, name, scan, contract, split=split, unique=unique)

    def discard_staged(self, staged: StagedLoad, seqs: pa.Array) -> StagedLoad:
        """Hide rows by sequence number: the view excludes the sequences listed in a temp table."""
        if not staged.location:  # staged in a TEMP table: delete the rows
            return super().discard_staged(staged, seqs)
        ref: TableRef = staged.handle
        discarded = TableRef("temp", ref.name + "__discarded")
        self.con.register("__dpone_discarded", pa.table({SEQ_COLUMN: seqs}))
        try:
            self.execute(
                f"CREATE OR REPLACE TEMP TABLE {self.dialect.quote(discarded.name)} AS "
                f"SELECT * FROM __dpone_discarded UNION ALL "
                f"SELECT * FROM (SELECT NULL::BIGINT AS {self.dialect.quote(SEQ_COLUMN)}) WHERE FALSE"
            )
        finally:
            self.con.unregister("__dpone_discarded")
        self._create_view(ref, Path(staged.location), discarded)
        return StagedLoad(staged.load_id, staged.location, staged.rows - len(seqs), staged.schema, ref)

    def drop_staging(self, staged: StagedLoad) -> None:
        """Drop the view and delete the staged files (best effort)."""
        with contextlib.suppress(Exception):  # cleanup never masks the load's own outcome
            kind = "VIEW" if staged.location else "TABLE"
            self.execute(f"DROP {kind} IF EXISTS {self.dialect.quote(staged.handle.name)}")
        if staged.location == SCAN_LOCATION:  # a scan's view has no files of its own; a store's are registered
            with contextlib.suppress(Exception):
                self.con.unregister(files_name(staged.handle.name))
        elif staged.location:
            shutil.rmtree(staged.location, ignore_errors=True)

    def cleanup_orphans(self, process: str) -> list[str]:
        """Remove staged files left by killed runs of ``process`` (the file lock makes us the only writer)."""
        prefix = staging_name(process, "")
        folders = sorted(self.staging_dir.glob(prefix + "*")) if self.staging_dir.is_dir() else []
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return [f.name for f in folders]

    def bulk_stage(self, reader: pa.RecordBatchReader, table: TableRef) -> int:
        """Load a stream into a TEMP table (the generic SqlSink path; :meth:`stage` prefers Parquet files)."""
        view = "__dpone_stage_source"
        self.con.register(view, reader)
        try:
            return self.execute(f"CREATE TEMP TABLE {self.dialect.quote(table.name)} AS SELECT * FROM {view}")
        finally:
            self.con.unregister(view)

    def catalog(self, table: TableRef) -> TargetSchema | None:
        """Columns (as Arrow types), NOT NULL and primary key from DuckDB's catalog."""
        schema = table.schema or "main"
        found = self.query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            (schema, table.name),
        )
        if not found:
            return None
        arrow = self.query_arrow(f"SELECT * FROM {self.dialect.table(table)} LIMIT 0").schema
        not_null: set[str] = set()
        key: tuple[str, ...] = ()
        for ctype, cols in self.query(
            "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
            "WHERE schema_name = ? AND table_name = ?",
            (schema, table.name),
        ):
            if ctype == "NOT NULL":
                not_null.update(cols)
            elif ctype == "PRIMARY KEY":
                key = tuple(cols)
                not_null.update(cols)
        columns = tuple(TargetColumn(f.name, f.type, f.name not in not_null) for f in arrow)
        return TargetSchema(columns, key)

    def list_tables(self, schema: str) -> list[str]:
        """Tables in ``schema``."""
        return [
            r[0]
            for r in self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = ?", (schema,))
        ]

    def acquire_lease(self, process: str) -> None:
        """No-op: the DuckDB file lock already makes this process the only writer."""

    def reconcile_access(self) -> SqlAccess:
        """The target on the finalize's own connection (its open transaction)."""
        return SqlAccess("duckdb", self._query_named, self.table.schema, self.table.name)

    def _query_named(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        try:
            return list(self.con.execute(sql, dict(params)).fetchall())
        except duckdb.Error as exc:
            raise self.translate_error(exc, "reconcile") from None

    def close(self) -> None:
        """Close the connection (releases the file lock)."""
        self.con.close()


@dataclass(frozen=True)
class NewTable:
    """A new keyed table's DDL, and the same table with its key added after its first rows.

    DuckDB maintains a primary key's index row by row through a transaction's insert, and merges
    it into the table at COMMIT: at 5M keys on two cores that made a first load 1.4-1.9x slower
    than the same insert outside a transaction. Building the index over rows already in the table
    (``ADD PRIMARY KEY``) costs less than either. But a repeated key then fails only the COMMIT,
    after the evidence is written, where nothing can take the load through staging any more: so
    the key is added late only when a file scan has proved it unique (``DuckDBSink.defer_key``).
    Building the index at once also takes more memory (peak RSS 270 MB against 179 MB at 5M keys),
    so a profile with a ``memory_limit`` keeps the key in the CREATE TABLE.
    """

    create: str
    """The ``CREATE TABLE`` the DDL gate rendered (key included)."""
    keyless: str
    add_key: str
    key: tuple[str, ...]


class DuckDBFinalizeSession(SqlFinalizeSession):
    """A DuckDB finalize: a new table whose key a scan proved unique gets the key after the strategy.

    Same transaction, same end state (the key, its index, its NOT NULL columns).
    """

    sink: DuckDBSink

    def __init__(self, sink: DuckDBSink, process: str) -> None:
        super().__init__(sink, process)
        self.deferred: list[str] = []

    def apply_ddl(self, statements: list[str]) -> None:
        """Run the DDL; with a proven key, the new table without it (added after the strategy)."""
        new, self.deferred = self.sink.new_table, []
        if new is not None and self.sink.defer_key and new.create in statements:
            statements = [new.keyless if s == new.create else s for s in statements]
            self.deferred = [new.add_key]
        super().apply_ddl(statements)

    def apply_strategy(self, plan: LoadPlan) -> StrategyCounts:
        """The strategy's statements, then the key kept back."""
        counts = super().apply_strategy(plan)
        for statement in self.deferred:
            self.sink.execute(statement)
        self.deferred = []
        return counts
