"""Shared implementation of the Sink port for transactional SQL databases.

A concrete sink (DuckDB, Postgres, ...) supplies a dialect, a DB-API-like session, bulk staging and
catalog introspection; everything else (DDL, strategies, audit, state, duplicates, orphan
cleanup) is here once, so each database gets the same commit protocol.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pyarrow as pa

from dpone_core.connectors.sql.bookkeeping import SqlBookkeeping
from dpone_core.model import SEQ_COLUMN, StagedLoad, StrategyCounts, TableRef, TargetColumn, TargetSchema
from dpone_core.spi.ports import SinkBase
from dpone_core.strategies.dialect import SqlDialect
from dpone_core.strategies.plan import LoadPlan
from dpone_core.strategies.render import StrategyRenderer

STAGING_PREFIX = "stg_"


def staging_name(process: str, load_id: str) -> str:
    """Staging table name: the process and load id make it unique and traceable to its run."""
    return f"{STAGING_PREFIX}{process}__{load_id}"


class SqlSink(SinkBase, ABC):
    """Sink port for SQL databases with transactions; subclasses implement the abstract hooks."""

    dialect: SqlDialect

    def __init__(self, table: TableRef, staging_schema: str, meta_schema: str | None) -> None:
        self.table = table
        self.staging_schema = staging_schema
        self.meta_schema = meta_schema
        self.bookkeeping = SqlBookkeeping(self, meta_schema)

    # ---- hooks for subclasses ------------------------------------------------------------------
    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the affected row count (-1 when unknown)."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return all rows (small results only)."""

    @abstractmethod
    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a query and return an Arrow table."""

    @abstractmethod
    def begin(self) -> None:
        """Start a transaction."""

    @abstractmethod
    def commit(self) -> None:
        """Commit the open transaction."""

    @abstractmethod
    def rollback(self) -> None:
        """Roll back the open transaction (no error when none is open)."""

    @abstractmethod
    def bulk_stage(self, reader: pa.RecordBatchReader, table: TableRef) -> int:
        """Create ``table`` from the stream with the engine's bulk path; return the row count."""

    @abstractmethod
    def catalog(self, table: TableRef) -> TargetSchema | None:
        """Describe ``table`` (columns, Arrow types, NOT NULL, primary key) or None if absent."""

    @abstractmethod
    def list_tables(self, schema: str) -> list[str]:
        """Names of the tables in ``schema``."""

    @abstractmethod
    def acquire_lease(self, process: str) -> None:
        """Take the per-process finalize lease inside the open transaction (or raise ConcurrentRunError)."""

    # ---- Sink port -------------------------------------------------------------------------------
    def target_schema(self) -> TargetSchema | None:
        """The target as it exists now."""
        return self.catalog(self.table)

    def physical_type(self, column: TargetColumn) -> str | None:
        """The database type: the catalog's own name where it has one, else what this dialect creates."""
        return column.native_type or self.dialect.type_sql(column.type)

    def plan_ddl(self, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
        """DDL turning ``current`` into ``desired``."""
        return self.dialect.evolve_sql(self.table, current, desired)

    def strategy_renderer(self, plan: LoadPlan) -> StrategyRenderer:
        """The renderer of ``plan``'s statements (a sink with its own SQL returns its subclass)."""
        return StrategyRenderer(self.dialect)

    def row_count(self) -> int | None:
        """``SELECT count(*)`` of the target, or None when it does not exist."""
        if self.catalog(self.table) is None:
            return None
        return int(self.query(f"SELECT count(*) FROM {self.dialect.table(self.table)}")[0][0])

    def maintain(self, statements: Sequence[str]) -> list[str]:
        """Run each statement with ``{table}`` replaced by the target's quoted name."""
        done = []
        for statement in statements:
            rendered = statement.format(table=self.dialect.table(self.table))
            self.execute(rendered)
            done.append(rendered)
        return done

    def ensure_meta_tables(self) -> None:
        """Create the state and audit tables when missing (idempotent, outside load transactions)."""
        self.bookkeeping.ensure_tables()

    def read_state(self, process: str) -> dict[str, Any] | None:
        """Committed state of ``process``."""
        return self.bookkeeping.read_state(process)

    def committed_load(self, process: str, run_id: str) -> dict[str, Any] | None:
        """Audit row of a committed load of ``process`` with ``run_id``."""
        return self.bookkeeping.committed_load(process, run_id)

    def loads(self, process: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Committed audit rows, newest first, optionally for one process and after ``since``."""
        return self.bookkeeping.loads(process, since)

    def stage(self, reader: pa.RecordBatchReader, load_id: str, process: str = "load") -> StagedLoad:
        """Bulk-load the stream into a staging table named after the process and load."""
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.dialect.quote(self.staging_schema)}")
        ref = TableRef(self.staging_schema, staging_name(process, load_id))
        rows = self.bulk_stage(reader, ref)
        data_schema = pa.schema([f for f in reader.schema if f.name != SEQ_COLUMN])
        return StagedLoad(load_id, ref.display(), rows, data_schema, ref)

    def staged_duplicates(self, staged: StagedLoad, key: tuple[str, ...]) -> pa.Table:
        """Rows whose key appeared earlier in the load (ordered by sequence; the first occurrence stays)."""
        ref: TableRef = staged.handle
        keys = self.dialect.column_list(key)
        seq = self.dialect.quote(SEQ_COLUMN)
        # One aggregate first: the common case (no duplicates) skips the window query.
        distinct = f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM {self.dialect.table(ref)}) AS k"
        if self.query(distinct)[0][0] == staged.rows:
            return pa.table({SEQ_COLUMN: pa.array([], pa.int64())})
        return self.query_arrow(
            f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY {seq}) AS dpone_rn "
            f"FROM {self.dialect.table(ref)}) AS d WHERE dpone_rn > 1 ORDER BY {seq}"
        ).drop_columns(["dpone_rn"])

    def discard_staged(self, staged: StagedLoad, seqs: pa.Array) -> StagedLoad:
        """Delete staged rows by sequence number, in bounded chunks of bound parameters."""
        ref: TableRef = staged.handle
        values = seqs.to_pylist()
        removed = 0
        for start in range(0, len(values), 1000):
            chunk = values[start : start + 1000]
            marks = ", ".join([self.dialect.placeholder] * len(chunk))
            removed += self.execute(
                f"DELETE FROM {self.dialect.table(ref)} WHERE {self.dialect.quote(SEQ_COLUMN)} IN ({marks})", chunk
            )
        return StagedLoad(staged.load_id, staged.location, staged.rows - removed, staged.schema, ref)

    @contextmanager
    def finalize(self, process: str, load_id: str) -> Iterator[SqlFinalizeSession]:
        """One transaction: lease, DDL, strategy, audit, state. Commit on success, roll back otherwise."""
        self.ensure_meta_tables()
        self.begin()
        try:
            self.acquire_lease(process)
            yield self.session(process)
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def session(self, process: str) -> SqlFinalizeSession:
        """The session of an open finalize transaction (a sink whose DDL or strategy differs returns its subclass)."""
        return SqlFinalizeSession(self, process)

    def drop_staging(self, staged: StagedLoad) -> None:
        """Drop the staging table; never raises (a leftover is cleaned by the next run)."""
        try:
            self.execute(f"DROP TABLE IF EXISTS {self.dialect.table(staged.handle)}")
        except Exception:  # noqa: BLE001 - best effort by contract
            return

    def cleanup_orphans(self, process: str) -> list[str]:
        """Drop staging tables of ``process`` left by crashed runs (the caller holds exclusivity)."""
        prefix = staging_name(process, "")
        try:
            names = [n for n in self.list_tables(self.staging_schema) if n.startswith(prefix)]
        except Exception:  # noqa: BLE001 - no staging schema yet means nothing to clean
            return []
        for name in names:
            self.execute(f"DROP TABLE IF EXISTS {self.dialect.table(TableRef(self.staging_schema, name))}")
        return names

    def read_target(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The whole target table as Arrow (for IO managers and tests)."""
        cols = self.dialect.column_list(list(columns)) if columns else "*"
        return self.query_arrow(f"SELECT {cols} FROM {self.dialect.table(self.table)}")


class SqlFinalizeSession:
    """The open finalize transaction of a :class:`SqlSink`."""

    def __init__(self, sink: SqlSink, process: str) -> None:
        self.sink = sink
        self.process = process

    def apply_ddl(self, statements: list[str]) -> None:
        """Run DDL inside the transaction (DuckDB and Postgres make it atomic with the data)."""
        if statements and self.sink.table.schema:
            self.sink.execute(f"CREATE SCHEMA IF NOT EXISTS {self.sink.dialect.quote(self.sink.table.schema)}")
        for statement in statements:
            self.sink.execute(statement)

    def apply_strategy(self, plan: LoadPlan) -> StrategyCounts:
        """Run the strategy's statements and add up their row counts."""
        counts = StrategyCounts()
        for statement in self.sink.strategy_renderer(plan).render(plan):
            affected = max(self.sink.execute(statement.sql, statement.params), 0)
            counts.details[statement.name] = affected
            if statement.counts_as:
                setattr(counts, statement.counts_as, getattr(counts, statement.counts_as) + affected)
        return counts

    def record(self, audit: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Insert the audit row and upsert the state row, in the finalize transaction."""
        self.sink.bookkeeping.record(self.process, audit, state)
