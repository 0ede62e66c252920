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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from dpone_core.connections.profiles import PostgresProfile
from dpone_core.connectors.ports import (
    StagedLoad,
    StrategyCounts,
    TableRef,
    TargetSchema,
)
from dpone_core.connectors.postgres.catalog import LIST_TABLES_SQL, describe_table
from dpone_core.connectors.postgres.connection import (
    connect,
    connect_adbc,
    connection_params,
    sqlstate,
    translate,
)
from dpone_core.connectors.postgres.copy_stream import CopyGuard, lock_key, staging_arrow_type
from dpone_core.connectors.postgres.sql import PostgresDialect, to_pyformat
from dpone_core.connectors.postgres.types import conform, plan_columns
from dpone_core.connectors.sql.sink import STAGING_PREFIX, SqlFinalizeSession, SqlSink, staging_name
from dpone_core.errors import ConcurrentRunError, DponeError, DuplicateKeyError
from dpone_core.state.tables import STATE_TABLE
from dpone_core.strategies.plan import LoadPlan
from dpone_core.strategies.render import render_plan

_IDEMPOTENT_DDL = ("CREATE SCHEMA IF NOT EXISTS", "CREATE TABLE IF NOT EXISTS")
_DUPLICATE_OBJECT = {"23505", "42P06", "42P07", "42710"}
_MAX_IDENTIFIER = 63


class PostgresSink(SqlSink):
    """Writes into a Postgres table with the shared SQL commit protocol."""

    dialect = PostgresDialect()
    widening_blocks_writers = True
    supports_direct_load = True
    """A first load streams the gated batches into its new table by binary COPY, in the finalize transaction."""

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
        self._streams: dict[str, pa.RecordBatchReader] = {}
        self._tx_on_adbc = False

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
        if self._tx_on_adbc:
            return int(self._on_adbc(sql, params, fetch=False))
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
        if self._tx_on_adbc:
            return list(self._on_adbc(sql, params, fetch=True))
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

    def _render(self, sql: str, params: Sequence[Any]) -> str:
        """SQL with its values inlined by psycopg2's quoting (for the ADBC connection, which binds none)."""
        with self.con.cursor() as cur:
            return str(cur.mogrify(to_pyformat(sql), tuple(params)).decode("utf-8"))

    def _on_adbc(self, sql: str, params: Sequence[Any], *, fetch: bool) -> Any:
        """Run one statement on the ADBC connection (the session of a direct first load's transaction)."""
        cursor = self._adbc().cursor()
        try:
            cursor.execute(self._render(sql, params))
            return [tuple(r) for r in cursor.fetchall()] if fetch else cursor.rowcount
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, self._step(), self.describe()) from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

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
        """BEGIN (the control connection runs in autocommit otherwise).

        With a stream registered for a direct first load, the whole finalize transaction (lease,
        DDL, COPY into the target, audit, state) runs on the ADBC connection, the one that can COPY.
        """
        self._tx_on_adbc = bool(self._streams)
        try:
            self.execute("BEGIN")
        except BaseException:
            self._tx_on_adbc = False
            raise
        self._in_transaction = True

    def commit(self) -> None:
        """COMMIT."""
        try:
            self.execute("COMMIT")
        finally:
            self._in_transaction = self._tx_on_adbc = False

    def rollback(self) -> None:
        """ROLLBACK; never raises (a broken connection has nothing to roll back)."""
        self._in_transaction = False
        if self._tx_on_adbc:
            # A COPY cut short can leave the session mid-protocol: closing it is a sure rollback.
            self._tx_on_adbc = False
            self._reset_adbc()
            return
        try:
            with self.con.cursor() as cur:
                cur.execute("ROLLBACK")
        except Exception:  # noqa: BLE001
            pass

    # ---- direct first loads -------------------------------------------------------------------------
    def register_stream(self, name: str, reader: pa.RecordBatchReader) -> None:
        """Keep the gated stream of a direct first load; the finalize transaction COPYs it."""
        self._streams[name] = reader

    def unregister_stream(self, name: str) -> None:
        """Forget a stream registered with :meth:`register_stream`."""
        self._streams.pop(name, None)

    def load_stream(self, plan: LoadPlan) -> StrategyCounts | None:
        """Write a registered stream inside the open transaction (see ``supports_direct_load``).

        When the plan is a plain insert into the new table and the stream's types are the table's,
        the rows are COPYed straight into the target (written once) and the counts are returned.
        Otherwise they are COPYed into a TEMP table (ON COMMIT DROP) under the staging name and
        None is returned: the plan's statements then read it like a staging table.
        """
        reader = self._streams[plan.staging.name]
        direct = plan.target_empty and plan.delete_marker is None and plan.strategy != "scd2"
        if direct and self._copy_compatible(plan, reader.schema):
            rows = self._copy(CopyGuard(reader, plan.target_columns), plan.target, into_target=True)
            return StrategyCounts(inserted=rows, details={"copy_into_target": rows})
        guard = CopyGuard(reader)
        temp = TableRef("pg_temp", plan.staging.name)
        columns = ", ".join(f"{self.dialect.quote(f.name)} {self.dialect.type_sql(f.type)}" for f in guard.schema)
        self.execute(f"CREATE TEMP TABLE {self.dialect.quote(temp.name)} ({columns}) ON COMMIT DROP")
        self._copy(guard, temp, into_target=False)
        return None

    def _copy_compatible(self, plan: LoadPlan, schema: pa.Schema) -> bool:
        """The new target has exactly the plan's columns, each with the stream's Postgres type."""
        target = self.catalog(plan.target)
        if target is None or {c.name for c in target.columns} != set(plan.target_columns):
            return False
        try:
            return all(
                self.dialect.type_sql(c.type) == self.dialect.type_sql(staging_arrow_type(schema.field(c.name).type))
                for c in target.columns
            )
        except (KeyError, TypeError):
            return False

    def _copy(self, guard: CopyGuard, table: TableRef, *, into_target: bool) -> int:
        cursor = self._adbc().cursor()
        try:
            rows = cursor.adbc_ingest(table.name, guard.as_reader(), mode="append", db_schema_name=table.schema)
            if guard.error is not None:
                raise guard.error
            return int(rows)
        except BaseException as exc:
            if guard.error is not None:
                raise guard.error from None
            if isinstance(exc, DponeError | KeyboardInterrupt):
                raise
            if into_target and sqlstate(exc) == "23505":
                raise DuplicateKeyError(
                    f"{self.describe()}: the primary key rejected a duplicate key of the load",
                    step="finalize",
                    fix="the run reads again through staging, where duplicates are handled by the contract",
                ) from None
            raise translate(exc, "finalize", f"COPY into {table.display()}") from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

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
        guard = CopyGuard(reader)
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
        return describe_table(self, table)

    def list_tables(self, schema: str) -> list[str]:
        """Tables (plain and partitioned) in ``schema``."""
        return [r[0] for r in self.query(LIST_TABLES_SQL, (schema,))]

    # ---- finalize ---------------------------------------------------------------------------------
    @contextmanager
    def finalize(self, process: str, load_id: str) -> Iterator[PostgresFinalizeSession]:
        """The shared transaction protocol, with a session that picks the Postgres fast paths."""
        with super().finalize(process, load_id) as session:
            yield PostgresFinalizeSession(self, session.process)

    def strategy_dialect(self, plan: LoadPlan) -> PostgresDialect:
        """The dialect for ``plan``'s statements, with the fast paths the target allows (read in the transaction).

        TRUNCATE replaces DELETE in full_refresh unless a foreign key references the target, a user
        trigger fires on DELETE, or the role lacks the TRUNCATE privilege (then the DELETE semantics
        are kept). ``INSERT ... ON CONFLICT`` replaces UPDATE + INSERT in merge when a non-partial,
        non-deferrable unique index covers exactly the key columns.
        """
        truncate = upsert = False
        target = self.dialect.table(plan.target)
        if plan.strategy == "full_refresh" and not plan.target_empty:
            rows = self.query(
                "SELECT has_table_privilege(c.oid, 'TRUNCATE') "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = c.oid AND f.contype = 'f') "
                "AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal "
                "AND g.tgtype::int & 8 <> 0) FROM pg_class c WHERE c.oid = to_regclass(\x00p)",
                (target,),
            )
            truncate = bool(rows and rows[0][0])
        elif plan.strategy in {"merge", "snapshot_diff"} and plan.primary_key and not plan.target_empty:
            rows = self.query(
                "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i "
                "CROSS JOIN LATERAL unnest(i.indkey) AS k(attnum) "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE i.indrelid = to_regclass(\x00p) AND i.indisunique AND i.indimmediate AND i.indisvalid "
                "AND i.indpred IS NULL AND i.indexprs IS NULL GROUP BY i.indexrelid",
                (target,),
            )
            upsert = any(sorted(r[0]) == sorted(plan.primary_key) for r in rows)
        return PostgresDialect(truncate_full_refresh=truncate, upsert_on_conflict=upsert)

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


class PostgresFinalizeSession(SqlFinalizeSession):
    """The finalize transaction of a :class:`PostgresSink`: statements may return their counts as a row."""

    sink: PostgresSink

    def apply_strategy(self, plan: LoadPlan) -> StrategyCounts:
        """Run the strategy's statements; a statement with ``counts`` feeds several counters at once."""
        if plan.staging.schema is None and plan.staging.name in self.sink._streams:
            direct = self.sink.load_stream(plan)
            if direct is not None:
                return direct
        counts = StrategyCounts()
        for statement in render_plan(plan, self.sink.strategy_dialect(plan)):
            if statement.counts:
                row = self.sink.query(statement.sql, statement.params)[0]
                values = [int(v or 0) for v in row]
                for name, value in zip(statement.counts, values, strict=True):
                    setattr(counts, name, getattr(counts, name) + value)
                counts.details[statement.name] = sum(values)
                continue
            affected = max(self.sink.execute(statement.sql, statement.params), 0)
            counts.details[statement.name] = affected
            if statement.counts_as:
                setattr(counts, statement.counts_as, getattr(counts, statement.counts_as) + affected)
        return counts


__all__ = ["STAGING_PREFIX", "PostgresFinalizeSession", "PostgresSink", "lock_key", "staging_arrow_type"]
