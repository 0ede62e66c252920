"""Postgres sink: UNLOGGED staging loaded by binary COPY (ADBC), finalize in one transaction.

Staging lives in the staging schema (created when missing) as an UNLOGGED table named after the
process and load. While a run owns a staging table it holds a session advisory lock on its name, so
orphan cleanup drops only tables whose run is gone (killed, crashed), never a live run's.

Finalize (in :class:`SqlSink`) runs DDL, the strategy, the audit row and the state upsert in one
transaction. The lease is a transaction advisory lock keyed by the process: a second run fails fast
with DPONE_ALREADY_RUNNING (or waits ``lease_wait_seconds``). Under the lease the sink also checks
that the process state is still the one this run started from; if another run committed in
between, this run refuses to commit (it read a cursor range that is no longer current).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from dpone_core.connections.profiles import PostgresProfile
from dpone_core.connectors.ports import StagedLoad, TableRef, TargetColumn, TargetSchema, iter_batches
from dpone_core.connectors.postgres.connection import (
    connect,
    connect_adbc,
    connection_params,
    sqlstate,
    translate,
)
from dpone_core.connectors.postgres.sql import PostgresDialect, to_pyformat
from dpone_core.connectors.postgres.types import arrow_type, conform, plan_columns
from dpone_core.connectors.sql.sink import STAGING_PREFIX, SqlSink, staging_name
from dpone_core.errors import ConcurrentRunError, DponeError
from dpone_core.runtime.testhooks import pause_point
from dpone_core.state.tables import STATE_TABLE

_IDEMPOTENT_DDL = ("CREATE SCHEMA IF NOT EXISTS", "CREATE TABLE IF NOT EXISTS")
_DUPLICATE_OBJECT = {"23505", "42P06", "42P07", "42710"}
_MAX_IDENTIFIER = 63


def lock_key(kind: str, name: str) -> int:
    """Signed 64-bit advisory lock key for ``kind`` and ``name`` (stable across processes and hosts).

    >>> lock_key("lease", "orders") == lock_key("lease", "orders")
    True
    """
    digest = hashlib.sha256(f"dpone:{kind}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def staging_arrow_type(arrow: pa.DataType) -> pa.DataType:
    """The Arrow type staged through COPY: types Postgres has no column for are widened first."""
    if pa.types.is_dictionary(arrow):
        return staging_arrow_type(arrow.value_type)
    if pa.types.is_null(arrow):
        return pa.string()
    if pa.types.is_int8(arrow):
        return pa.int16()
    if pa.types.is_unsigned_integer(arrow):
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64(), 64: pa.decimal128(20, 0)}[arrow.bit_width]
    if pa.types.is_float16(arrow):
        return pa.float32()
    if pa.types.is_fixed_size_binary(arrow) and not isinstance(arrow, pa.BaseExtensionType):
        return pa.binary()
    if pa.types.is_date64(arrow):
        return pa.date32()
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return pa.list_(staging_arrow_type(arrow.value_type))
    return arrow


class _Guard:
    """Feeds the gated stream to the driver and keeps the first Python exception it raised.

    The driver reads the stream through the Arrow C interface, which turns a Python exception
    (a contract violation, Ctrl-C) into a generic error; the sink re-raises the original.
    """

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self.reader = reader
        self.error: BaseException | None = None
        self.schema = pa.schema([pa.field(f.name, staging_arrow_type(f.type), f.nullable) for f in reader.schema])

    def batches(self) -> Iterator[pa.RecordBatch]:
        first = True
        try:
            for raw in iter_batches(self.reader):
                batch = raw
                if raw.schema != self.schema:
                    columns = zip(raw.columns, self.schema, strict=True)
                    batch = pa.RecordBatch.from_arrays(
                        [col.cast(f.type) if col.type != f.type else col for col, f in columns], schema=self.schema
                    )
                yield batch
                if first:
                    first = False
                    pause_point("copy")
        except BaseException as exc:
            self.error = exc
            raise

    def as_reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self.batches())


class PostgresSink(SqlSink):
    """Writes into a Postgres table with the shared SQL commit protocol."""

    dialect = PostgresDialect()
    widening_blocks_writers = True

    def __init__(
        self,
        profile: PostgresProfile,
        base_dir: Path,
        table: TableRef,
        staging_schema: str,
        meta_schema: str | None,
        process: str = "dpone",
    ) -> None:
        super().__init__(table, staging_schema, meta_schema)
        self.conn_params = connection_params(profile, base_dir, f"dpone/{process}")
        self.lease_wait_seconds = profile.lease_wait_seconds
        self.con = connect(self.conn_params)
        self.adbc: Any = None
        self._in_transaction = False
        self._observed_state: dict[str, Any] = {}
        self._staging_locks: dict[str, int] = {}

    # ---- description ----------------------------------------------------------------------------
    def describe(self) -> str:
        """``postgres:<db>/<schema.table>``."""
        return f"postgres:{self.conn_params['dbname']}/{self.table.display()}"

    def lineage_name(self) -> tuple[str, str]:
        """OpenLineage namespace (``postgres://host:port``) and ``db.schema.table``."""
        host = self.conn_params.get("host", "localhost")
        return (
            f"postgres://{host}:{self.conn_params.get('port', '5432')}",
            f"{self.conn_params['dbname']}.{self.table.display()}",
        )

    # ---- session hooks --------------------------------------------------------------------------
    def _step(self) -> str:
        return "finalize" if self._in_transaction else "stage"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement (values bound by psycopg2); return its row count."""
        try:
            with self.con.cursor() as cur:
                cur.execute(to_pyformat(sql), tuple(params))
                return int(cur.rowcount)
        except DponeError:
            raise
        except Exception as exc:  # noqa: BLE001 - every driver error is translated
            if not self._in_transaction and sql.startswith(_IDEMPOTENT_DDL) and sqlstate(exc) in _DUPLICATE_OBJECT:
                return -1  # a concurrent run created it first: what we wanted exists
            raise translate(exc, self._step(), self.describe()) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a small query."""
        try:
            with self.con.cursor() as cur:
                cur.execute(to_pyformat(sql), tuple(params))
                return list(cur.fetchall())
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, self._step(), self.describe()) from None

    def _adbc(self) -> Any:
        if self.adbc is None:
            self.adbc = connect_adbc(self.conn_params)
        return self.adbc

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Query through binary COPY into Arrow (numeric as decimals, as the source reads them)."""
        with self.con.cursor() as cur:
            rendered = cur.mogrify(to_pyformat(sql), tuple(params)).decode("utf-8")
        cursor = self._adbc().cursor()
        try:
            cursor.execute(rendered)
            table = cursor.fetch_arrow_table()
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, self._step(), self.describe()) from None
        finally:
            cursor.close()
        plans = plan_columns(table.schema)
        schema = pa.schema([pa.field(p.name, p.declared) for p in plans])
        return pa.Table.from_batches([conform(b, plans, schema) for b in table.to_batches()], schema=schema)

    def begin(self) -> None:
        """BEGIN (the control connection runs in autocommit otherwise)."""
        self.execute("BEGIN")
        self._in_transaction = True

    def commit(self) -> None:
        """COMMIT."""
        try:
            self.execute("COMMIT")
        finally:
            self._in_transaction = False

    def rollback(self) -> None:
        """ROLLBACK; never raises (a broken connection has nothing to roll back)."""
        self._in_transaction = False
        try:
            with self.con.cursor() as cur:
                cur.execute("ROLLBACK")
        except Exception:  # noqa: BLE001
            pass

    # ---- staging --------------------------------------------------------------------------------
    def _lock_staging(self, name: str) -> None:
        key = lock_key("staging", name[:_MAX_IDENTIFIER])
        self.query("SELECT pg_advisory_lock(\x00p)", (key,))
        self._staging_locks[name] = key

    def _unlock_staging(self, name: str) -> None:
        key = self._staging_locks.pop(name, None)
        if key is not None:
            try:
                self.query("SELECT pg_advisory_unlock(\x00p)", (key,))
            except DponeError:
                return

    def bulk_stage(self, reader: pa.RecordBatchReader, table: TableRef) -> int:
        """CREATE UNLOGGED TABLE, then binary COPY of the stream through ADBC (batches as they come)."""
        guard = _Guard(reader)
        self._lock_staging(table.name)
        columns = ", ".join(f"{self.dialect.quote(f.name)} {self.dialect.type_sql(f.type)}" for f in guard.schema)
        self.execute(f"CREATE UNLOGGED TABLE {self.dialect.table(table)} ({columns})")
        cursor = self._adbc().cursor()
        try:
            rows = cursor.adbc_ingest(table.name, guard.as_reader(), mode="append", db_schema_name=table.schema)
            if guard.error is not None:
                raise guard.error
        except BaseException as exc:
            # The runtime never got a StagedLoad for this table, so it cannot drop it: do it here,
            # after closing the COPY session (it may still hold the table's lock mid-COPY).
            self._reset_adbc()
            self._discard(table)
            if guard.error is not None:
                raise guard.error from None
            if isinstance(exc, DponeError | KeyboardInterrupt):
                raise
            raise translate(exc, "stage", f"COPY into staging {table.display()}") from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()
        return int(rows)

    def _reset_adbc(self) -> None:
        if self.adbc is not None:
            with contextlib.suppress(Exception):
                self.adbc.close()
            self.adbc = None

    def _discard(self, table: TableRef) -> None:
        with contextlib.suppress(Exception):
            self.execute(f"DROP TABLE IF EXISTS {self.dialect.table(table)}")
        self._unlock_staging(table.name)

    def drop_staging(self, staged: StagedLoad) -> None:
        """Drop the staging table and release its lock; never raises."""
        super().drop_staging(staged)
        self._unlock_staging(staged.handle.name)

    def cleanup_orphans(self, process: str) -> list[str]:
        """Drop staging tables of ``process`` whose run is gone (its lock is free); skip live runs."""
        prefix = staging_name(process, "")[:_MAX_IDENTIFIER]
        try:
            names = [n for n in self.list_tables(self.staging_schema) if n.startswith(prefix)]
        except DponeError:
            return []
        dropped = []
        for name in names:
            key = lock_key("staging", name)
            if not self.query("SELECT pg_try_advisory_lock(\x00p)", (key,))[0][0]:
                continue  # a live run owns it
            try:
                self.execute(f"DROP TABLE IF EXISTS {self.dialect.table(TableRef(self.staging_schema, name))}")
                dropped.append(name)
            finally:
                self.query("SELECT pg_advisory_unlock(\x00p)", (key,))
        return dropped

    # ---- catalog --------------------------------------------------------------------------------
    def catalog(self, table: TableRef) -> TargetSchema | None:
        """Columns (Arrow types from the catalog), NOT NULL and primary key; None when absent."""
        name = self.dialect.table(table)
        rows = self.query(
            "SELECT a.attname, a.attnotnull, b.typname, b.typtype, "
            "CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, e.typname, e.typtype "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
            "LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A' "
            "WHERE a.attrelid = to_regclass(\x00p) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (name,),
        )
        if not rows:
            return None
        key = self.query(
            "SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = to_regclass(\x00p) AND i.indisprimary ORDER BY k.ord",
            (name,),
        )
        columns = []
        for attname, not_null, typname, typtype, typmod, elem, elem_type in rows:
            mapped = arrow_type(
                typname, int(typmod), is_enum=typtype == "e", element=elem, element_is_enum=elem_type == "e"
            )
            # A type without an Arrow mapping (inet, enum arrays, ...) is described as text: the
            # load still works when the source sends text Postgres can assign to it.
            columns.append(TargetColumn(attname, mapped if mapped is not None else pa.string(), not not_null))
        return TargetSchema(tuple(columns), tuple(r[0] for r in key))

    def list_tables(self, schema: str) -> list[str]:
        """Tables (plain and partitioned) in ``schema``."""
        return [
            r[0]
            for r in self.query(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = \x00p AND c.relkind IN ('r', 'p')",
                (schema,),
            )
        ]

    # ---- lease and state ------------------------------------------------------------------------
    def read_state(self, process: str) -> dict[str, Any] | None:
        """Committed state; the first read is remembered so finalize can detect a concurrent commit."""
        state = super().read_state(process)
        self._observed_state.setdefault(process, state.get("load_id") if state else None)
        return state

    def acquire_lease(self, process: str) -> None:
        """Advisory transaction lock keyed by the process, then a check that the state did not move."""
        key = lock_key("lease", f"{self.meta_schema or ''}.{process}")
        if self.lease_wait_seconds:
            self.execute(f"SET LOCAL lock_timeout = '{int(self.lease_wait_seconds)}s'")
            try:
                self.query("SELECT pg_advisory_xact_lock(\x00p)", (key,))
            except DponeError as exc:
                raise self._already_running(process, f"waited {self.lease_wait_seconds}s") from exc
        elif not self.query("SELECT pg_try_advisory_xact_lock(\x00p)", (key,))[0][0]:
            raise self._already_running(process, "another run holds its finalize lease")
        if process not in self._observed_state:
            return
        table = self.dialect.table(self._meta(STATE_TABLE))
        rows = self.query(f"SELECT load_id FROM {table} WHERE process = \x00p", (process,))
        current = rows[0][0] if rows else None
        if current != self._observed_state[process]:
            raise ConcurrentRunError(
                f"process {process} is already running elsewhere: load {current} committed while this run was "
                "loading, so this run's read is stale; nothing was committed",
                step="finalize",
                fix="run again: the next run starts from the new state",
            )

    def _already_running(self, process: str, detail: str) -> ConcurrentRunError:
        return ConcurrentRunError(
            f"process {process} is already running against {self.describe()} ({detail}); nothing was committed",
            step="finalize",
            fix="wait for the other run to finish, or set lease_wait_seconds on the connection to wait",
        )

    def close(self) -> None:
        """Close both connections (an open transaction is rolled back by the server)."""
        for con in (self.adbc, self.con):
            if con is not None:
                with contextlib.suppress(Exception):
                    con.close()


__all__ = ["STAGING_PREFIX", "PostgresSink", "lock_key", "staging_arrow_type"]
