"""Postgres sink: UNLOGGED staging loaded by binary COPY (ADBC), finalize in one transaction.

Staging lives in the staging schema (created when missing) as an UNLOGGED table named after the
process and load. While a run owns a staging table it holds a session advisory lock on its name, so
orphan cleanup drops only tables whose run is gone (killed, crashed), never a live run's.

Finalize (in :class:`SqlSink`) runs DDL, the strategy, the audit row and the state upsert in one
transaction, under the per-process lease of :mod:`.lease` (a second run fails fast with
DPONE_ALREADY_RUNNING or waits; a run whose state moved meanwhile refuses to commit).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from dpone_core.connectors.postgres.catalog import LIST_TABLES_SQL, describe_table
from dpone_core.connectors.postgres.connection import (
    AdbcOpener,
    connect,
    connect_adbc,
    connection_params,
    database_identity,
    sqlstate,
    translate,
)
from dpone_core.connectors.postgres.copy_stream import CopyGuard, lock_key, staging_arrow_type
from dpone_core.connectors.postgres.direct_load import (
    direct_load_allowed,
    duplicate_key,
    key_enforced,
    load_stream,
    run_statements,
    truncate_allowed,
)
from dpone_core.connectors.postgres.lease import acquire_lease
from dpone_core.connectors.postgres.profile import PostgresProfile
from dpone_core.connectors.postgres.relay import BinaryRelay
from dpone_core.connectors.postgres.render import PostgresRenderer
from dpone_core.connectors.postgres.sql import PostgresDialect, to_pyformat
from dpone_core.connectors.postgres.types import conform, plan_columns
from dpone_core.connectors.sql.sink import STAGING_PREFIX, SqlFinalizeSession, SqlSink, staging_name
from dpone_core.errors import DponeError
from dpone_core.model import StagedLoad, StrategyCounts, TableRef, TargetSchema
from dpone_core.spi.ports import RelayOffer, SqlAccess
from dpone_core.strategies.plan import LoadPlan

_IDEMPOTENT_DDL = ("CREATE SCHEMA IF NOT EXISTS", "CREATE TABLE IF NOT EXISTS")
_DUPLICATE_OBJECT = {"23505", "42P06", "42P07", "42710"}
_MAX_IDENTIFIER = 63


class PostgresSink(SqlSink):
    """Writes into a Postgres table with the shared SQL commit protocol."""

    dialect = PostgresDialect()

    def __init__(
        self,
        profile: PostgresProfile,
        base_dir: Path,
        table: TableRef,
        staging_schema: str,
        meta_schema: str | None,
        process: str = "dpone",
        *,
        loading: bool = False,
    ) -> None:
        super().__init__(table, staging_schema, meta_schema)
        self.conn_params = connection_params(profile, base_dir, f"dpone/{process}")
        self.lease_wait_seconds = profile.lease_wait_seconds
        self.con = connect(self.conn_params)
        self.adbc: Any = None
        self._loading = loading
        self._opener: AdbcOpener | None = None
        self._in_transaction = False
        self._observed_state: dict[str, Any] = {}
        self._staging_locks: dict[str, int] = {}
        self._streams: dict[str, pa.RecordBatchReader] = {}
        self._relays: dict[str, BinaryRelay] = {}
        self._tx_on_adbc = False

    def load_follows(self) -> None:
        """Open the ADBC session a load needs (COPY, a direct load's transaction) while the run reads on.

        Not at open: a run whose id already committed ends before any row moves, and importing and
        connecting ADBC would be most of its time.
        """
        if self._loading and self._opener is None and self.adbc is None:
            self._opener = AdbcOpener(self.conn_params)

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

    def database_identity(self) -> str:
        """The server database (host, port, database and service of the resolved parameters)."""
        return database_identity(self.conn_params)

    def widening_blocks_writers(self, current: pa.DataType, incoming: pa.DataType) -> bool:
        """``ALTER COLUMN ... TYPE`` rewrites the table (and its indexes) under ACCESS EXCLUSIVE,
        except for a numeric whose precision grows at the same scale: Postgres then changes only the
        catalog (the stored values are valid as they are) and keeps the indexes."""
        same_scale_wider = (
            pa.types.is_decimal(current)
            and pa.types.is_decimal(incoming)
            and current.scale == incoming.scale
            and incoming.precision >= current.precision
        )
        return not same_scale_wider

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

    def adbc_session(self) -> Any:
        """The ADBC connection (opened on first use): it runs COPY and a direct load's transaction."""
        if self.adbc is None:
            # The opener is dropped only once it handed over: interrupted, close() still closes it.
            self.adbc = self._opener.take() if self._opener is not None else connect_adbc(self.conn_params)
            self._opener = None
        return self.adbc

    def inline_values(self, sql: str, params: Sequence[Any]) -> str:
        """SQL with its values inlined by psycopg2's quoting (for the ADBC connection, which binds none, and DDL)."""
        with self.con.cursor() as cur:
            return str(cur.mogrify(to_pyformat(sql), tuple(params)).decode("utf-8"))

    def _on_adbc(self, sql: str, params: Sequence[Any], *, fetch: bool) -> Any:
        """Run one statement on the ADBC connection (the session of a direct load's transaction)."""
        cursor = self.adbc_session().cursor()
        try:
            cursor.execute(self.inline_values(sql, params))
            return [tuple(r) for r in cursor.fetchall()] if fetch else cursor.rowcount
        except Exception as exc:  # noqa: BLE001
            if sqlstate(exc) == "23505":
                # Only a direct load runs statements here: its rows were never checked for duplicates.
                raise duplicate_key(self) from None
            raise translate(exc, self._step(), self.describe()) from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Query through binary COPY into Arrow (numeric as decimals, as the source reads them)."""
        with self.con.cursor() as cur:
            rendered = cur.mogrify(to_pyformat(sql), tuple(params)).decode("utf-8")
        cursor = self.adbc_session().cursor()
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

        With a stream registered for a direct load, the whole finalize transaction (lease,
        DDL, COPY into the target, audit, state) runs on the ADBC connection, the one that can COPY
        Arrow; a relay (:meth:`register_relay`) COPYs bytes on this connection instead.
        """
        self._tx_on_adbc = bool(self._streams) and not self._relays
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

    # ---- direct loads -------------------------------------------------------------------------
    def register_stream(self, name: str, reader: pa.RecordBatchReader) -> None:
        """Keep the gated stream of a direct load; the finalize transaction COPYs it."""
        self._streams[name] = reader

    def unregister_stream(self, name: str) -> None:
        """Forget a stream registered with :meth:`register_stream` (and its relay)."""
        self._streams.pop(name, None)
        self._relays.pop(name, None)

    def register_relay(self, name: str, relay: RelayOffer) -> None:
        """Offer the registered stream's rows as a binary relay; the finalize declines it if the target differs."""
        assert isinstance(relay, BinaryRelay), "a Postgres sink relays a Postgres source's COPY only"
        self._relays[name] = relay

    def direct_load_allowed(self, strategy: str, primary_key: Sequence[str]) -> bool:
        """The existing target may take the gated stream inside finalize (see :mod:`.direct_load`)."""
        return direct_load_allowed(self, strategy, primary_key)

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
        cursor = self.adbc_session().cursor()
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

    def strategy_renderer(self, plan: LoadPlan) -> PostgresRenderer:
        """The renderer of ``plan``'s statements, with the fast paths the target allows (read in the transaction).

        TRUNCATE replaces DELETE in full_refresh unless a foreign key references the target, a user
        trigger fires on DELETE, or the role lacks the TRUNCATE privilege (then the DELETE semantics
        are kept). ``INSERT ... ON CONFLICT`` replaces UPDATE + INSERT in merge when a non-partial,
        non-deferrable unique index covers exactly the key columns.
        """
        truncate = upsert = False
        if plan.strategy == "full_refresh" and not plan.target_empty:
            truncate = truncate_allowed(self, plan.target)
        elif plan.strategy in {"merge", "snapshot_diff"} and plan.primary_key and not plan.target_empty:
            upsert = key_enforced(self, plan.target, plan.primary_key)
        return PostgresRenderer(self.dialect, truncate=truncate, upsert=upsert)

    # ---- lease and state ------------------------------------------------------------------------
    def read_state(self, process: str) -> dict[str, Any] | None:
        """Committed state; the first read is remembered so finalize can detect a concurrent commit."""
        state = super().read_state(process)
        self._observed_state.setdefault(process, state.get("load_id") if state else None)
        return state

    def acquire_lease(self, process: str) -> None:
        """Advisory transaction lock keyed by the process, then a check that the state did not move."""
        acquire_lease(self, process, self._observed_state)

    def reconcile_access(self) -> SqlAccess:
        """The target in the open finalize transaction (its ADBC session during a direct load)."""
        return SqlAccess("postgres", self._query_named, self.table.schema, self.table.name)

    def _query_named(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        try:
            if self._tx_on_adbc:
                with self.con.cursor() as cur:
                    rendered = cur.mogrify(sql, dict(params)).decode("utf-8")
                cursor = self.adbc_session().cursor()
                try:
                    cursor.execute(rendered)
                    return [tuple(r) for r in cursor.fetchall()]
                finally:
                    with contextlib.suppress(Exception):
                        cursor.close()
            with self.con.cursor() as cur:
                cur.execute(sql, dict(params))
                return list(cur.fetchall())
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, "reconcile", self.describe()) from None

    def close(self) -> None:
        """Close both connections (an open transaction is rolled back by the server)."""
        if self._opener is not None:
            self._opener.close()
        for con in (self.adbc, self.con):
            if con is not None:
                with contextlib.suppress(Exception):
                    con.close()


class PostgresFinalizeSession(SqlFinalizeSession):
    """The finalize transaction of a :class:`PostgresSink`: statements may return their counts as a row."""

    sink: PostgresSink

    def apply_strategy(self, plan: LoadPlan) -> StrategyCounts:
        """Run the strategy's statements, or write the registered stream of a direct load.

        Columns whose own type is not the staged one (an enum or inet staged as text) are cast to
        it explicitly: Postgres has no assignment cast from text to them.
        """
        target = self.sink.catalog(plan.target)
        casts = {c.name: c.native_type for c in target.columns if c.native_type} if target else {}
        if casts:
            plan = dataclasses.replace(plan, casts=casts)
        reader = self.sink._streams.get(plan.staging.name) if plan.staging.schema is None else None
        if reader is not None:
            return load_stream(self.sink, plan, reader, self.sink._relays.get(plan.staging.name))
        return run_statements(self.sink, self.sink.strategy_renderer(plan).render(plan))


__all__ = ["STAGING_PREFIX", "PostgresFinalizeSession", "PostgresSink", "lock_key", "staging_arrow_type"]
