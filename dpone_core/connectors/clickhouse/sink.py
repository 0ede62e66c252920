"""The ClickHouse sink: staging tables, a built-then-swapped target, and a journal instead of a transaction.

A load is staged into ``<staging db>.stg_<process>__<load_id>`` (a new MergeTree table, so no old
deduplication history can swallow its rows) by inserts of coalesced Arrow chunks, each with a
content-derived deduplication token and resent on a transient error. The finalize (``commit.py``)
takes the process's lease, builds the new version beside the target, journals the publish,
publishes in one atomic step and journals the commit (see ``publish.py`` and ``bookkeeping.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dpone_core.connectors.clickhouse.arrow_body import chunks
from dpone_core.connectors.clickhouse.bookkeeping import ClickHouseBookkeeping
from dpone_core.connectors.clickhouse.client import ClickHouseClient
from dpone_core.connectors.clickhouse.lease import LEASES_TABLE, Lease
from dpone_core.connectors.clickhouse.options import ClickHouseSinkOptions
from dpone_core.connectors.clickhouse.presence import Presence
from dpone_core.connectors.clickhouse.sql import (
    TableLayout,
    add_column_sql,
    create_table_sql,
    modify_column_sql,
    partition_expression,
    quote,
    table,
)
from dpone_core.connectors.clickhouse.types import arrow_type, clickhouse_type
from dpone_core.errors import ConcurrentRunError, TransientError
from dpone_core.model import SEQ_COLUMN, ReadRequest, StagedLoad, TableRef, TargetColumn, TargetSchema
from dpone_core.model.batches import iter_batches
from dpone_core.spi.ports import SinkBase, SqlAccess
from dpone_core.state.tables import LOADS_TABLE
from dpone_core.strategies.plan import PartitionSpec

if TYPE_CHECKING:
    from dpone_core.connectors.clickhouse.commit import ClickHouseCommit
    from dpone_core.spi.ports import Sink

CHUNK_ATTEMPTS = 4
"""A chunk whose insert failed transiently is sent again, with the same token, after 0.5, 1 and 2 s
(the server drops a resend that reached it; the run's own retries start the load over)."""


STAGING_WHERE = "database = {d:String} AND (startsWith(name, {a:String}) OR startsWith(name, {b:String}))"
"""The ``system.tables`` rows of one process's staging and built tables (see :meth:`ClickHouseSink.staging_params`)."""


def staging_name(kind: str, database: str, process: str, load_id: str) -> str:
    """``stg_`` (staged rows) or ``new_`` (the built version) table of one load of a process writing
    into ``database``: processes of the same name writing other databases share no staging."""
    return f"{kind}_{database}__{process}__{load_id}"


class ClickHouseSink(SinkBase):
    """Sink port for one ClickHouse table."""

    def __init__(
        self,
        client: ClickHouseClient,
        target: TableRef,
        *,
        staging_database: str,
        meta_database: str,
        options: ClickHouseSinkOptions,
        partition: PartitionSpec | None,
        primary_key: tuple[str, ...],
        adopt_staging: bool = False,
    ) -> None:
        super().__init__()
        self.client, self.table, self.options = client, target, options
        self.staging_database, self.primary_key, self.partition = staging_database, primary_key, partition
        self.presence = Presence(
            client, (str(target.schema), staging_database, meta_database), meta_database, (LOADS_TABLE, LEASES_TABLE)
        )
        """One query for the databases and dpone's tables a load needs (see ``presence.py``)."""
        self.bookkeeping = ClickHouseBookkeeping(client, meta_database, self.presence)
        self.lease = Lease(client, meta_database, self.describe(), self.presence)
        self.desired: TargetSchema | None = None
        self.current: TargetSchema | None = None
        """The target as the run described it before planning its DDL (the staging is laid out from it)."""
        self.observed: dict[str, str | None] = {}
        """Per process: the newest committed load when the run read its state (checked at the commit)."""
        self.built: TableRef | None = None
        """During a finalize: what the reconcile gate reads (the built new version, the new content of
        replaced partitions, or an append's staged rows; :attr:`built_scope` says which)."""
        self.built_scope: str | None = None
        self.kept: set[str] = set()
        self.adopt_staging = adopt_staging
        """full_refresh: stage straight into a table laid out as the target, which then becomes it."""
        self.adopted: set[str] = set()
        """Staging tables created that way (their sequence column is dropped before the swap)."""
        self.dropped: set[str] = set()
        """Staging tables the commit already dropped (an adopted one, holding the old version after the swap)."""

    # ---- descriptions ----------------------------------------------------------------------------
    def describe(self) -> str:
        """``clickhouse:<endpoint>/<db>.<table>``."""
        return f"clickhouse:{self.client.where}/{self.table.schema}.{self.table.name}"

    def lineage_name(self) -> tuple[str, str]:
        """OpenLineage naming: ``clickhouse://host:port`` and ``db.table``."""
        where = self.client.where.split("://", 1)[-1]
        return f"clickhouse://{where}", f"{self.table.schema}.{self.table.name}"

    def database_identity(self) -> str | None:
        """The server (a source on the same server shares its identity)."""
        return f"clickhouse:{self.client.where}/{self.table.schema}"

    # ---- catalog ---------------------------------------------------------------------------------
    def catalog(self, ref: TableRef) -> TargetSchema | None:
        """Columns (Arrow types, nullability) and primary key of ``ref``, or None when absent."""
        rows = self.client.rows(
            "SELECT name, type, is_in_primary_key FROM system.columns "
            "WHERE database = {d:String} AND table = {t:String} ORDER BY position",
            {"d": ref.schema, "t": ref.name},
            step="schema",
        )
        if not rows:
            return None
        columns = []
        for name, ch_type, _ in rows:
            arrow, nullable = arrow_type(str(ch_type), str(name))
            columns.append(TargetColumn(str(name), arrow, nullable))
        return TargetSchema(tuple(columns), tuple(str(r[0]) for r in rows if r[2]))

    def target_schema(self) -> TargetSchema | None:
        """The target as it exists now."""
        return self.catalog(self.table)

    def physical_type(self, column: TargetColumn) -> str | None:
        """The ClickHouse type this sink creates for the column (Nullable only where nulls are allowed)."""
        return clickhouse_type(column.type, column.nullable, column.name)

    def layout(self, schema: TargetSchema) -> TableLayout:
        """Engine, ORDER BY and PARTITION BY of a table this sink creates."""
        options = self.options
        order = tuple(options.order_by or schema.primary_key or self.primary_key)
        partition = None
        if options.partition_by:
            partition = partition_expression(options.partition_by, options.partition_grain)
        elif self.partition is not None:
            partition = partition_expression(self.partition.column, self.partition.grain)
        return TableLayout(options.engine, order, partition)

    def plan_ddl(self, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
        """The DDL the load needs; applied to the built table (or, for appends, at the publish)."""
        self.desired, self.current = desired, current
        return self.evolve(self.table, current, desired)

    def evolve(self, ref: TableRef, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
        """CREATE, or ADD/MODIFY COLUMN statements turning ``current`` into ``desired`` at ``ref``."""
        if current is None:
            return [create_table_sql(ref, desired, self.layout(desired))]
        statements = []
        for column in desired.columns:
            existing = current.column(column.name)
            wanted = clickhouse_type(
                column.type, column.nullable or (existing is not None and existing.nullable), column.name
            )
            if existing is None:
                statements.append(add_column_sql(ref, column.name, clickhouse_type(column.type, True, column.name)))
            elif clickhouse_type(existing.type, existing.nullable, column.name) != wanted:
                statements.append(modify_column_sql(ref, column.name, wanted))
        return statements

    def row_count(self) -> int | None:
        """``count()`` of the target, or None when it does not exist."""
        if self.target_schema() is None:
            return None
        return int(self.client.rows(f"SELECT count() FROM {table(self.table)}")[0][0])

    # ---- state and audit -------------------------------------------------------------------------
    def read_state(self, process: str) -> dict[str, Any] | None:
        """The state of the newest committed load of ``process`` (and which load that was, checked at the commit)."""
        head = self.bookkeeping.head(process)
        self.observed[process] = head.last_committed
        return head.state

    def committed_load(self, process: str, run_id: str) -> dict[str, Any] | None:
        """The audit record of ``run_id``'s committed load."""
        return self.bookkeeping.committed_load(process, run_id)

    def loads(self, process: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Committed audit records, newest first."""
        return self.bookkeeping.loads(process, since)

    # ---- staging ---------------------------------------------------------------------------------
    def stage(self, reader: pa.RecordBatchReader, load_id: str, process: str = "load") -> StagedLoad:
        """Create the load's staging table and insert the stream into it in coalesced chunks."""
        ref = TableRef(self.staging_database, self.staging_name("stg", process, load_id))
        self.presence.ensure_database(self.staging_database, step="stage")
        for statement in self._staging_ddl(ref, reader.schema):
            self.client.command(statement, step="stage", what=f"creating {ref.display()}")
        rows = 0
        for number, chunk in enumerate(
            chunks(iter_batches(reader), reader.schema, self.options.insert_rows, self.options.insert_bytes)
        ):
            self._send(ref, reader.schema.names, f"dpone:{load_id}:{number}:{chunk.digest[:16]}", chunk)
            rows += chunk.rows
        data_schema = pa.schema([f for f in reader.schema if f.name != SEQ_COLUMN])
        return StagedLoad(load_id, ref.display(), rows, data_schema, ref)

    def _staging_ddl(self, ref: TableRef, stream: pa.Schema) -> list[str]:
        """The staging table: the stream's columns ordered by sequence, or, for a full_refresh, the
        target's own layout plus the sequence column, so that the table can become the target
        without a copy (see ``commit.py``)."""
        desired = self.desired
        if not self.adopt_staging or desired is None or SEQ_COLUMN not in stream.names:
            schema = TargetSchema(tuple(TargetColumn(f.name, f.type, f.nullable) for f in stream))
            layout = TableLayout(order_by=(SEQ_COLUMN,) if SEQ_COLUMN in stream.names else ())
            return [create_table_sql(ref, schema, layout)]
        self.adopted.add(ref.name)
        current = self.current  # described by this run a moment ago, before plan_ddl
        seq = add_column_sql(ref, SEQ_COLUMN, "Int64")
        if current is None:
            return [create_table_sql(ref, desired, self.layout(desired)), seq]
        # Like the target (engine, keys, settings), with the load's new columns.
        return [f"CREATE TABLE {table(ref)} AS {table(self.table)}", *self.evolve(ref, current, desired), seq]

    def _send(self, ref: TableRef, columns: list[str], token: str, chunk: Any) -> None:
        for attempt in range(1, CHUNK_ATTEMPTS + 1):
            try:
                self.client.insert_stream(
                    table(ref), columns, chunk.body(), settings={"insert_deduplication_token": token},
                    what=f"inserting into {ref.display()}",
                )  # fmt: skip
                return
            except TransientError:
                if attempt == CHUNK_ATTEMPTS:
                    raise
                time.sleep(0.5 * 2 ** (attempt - 1))
            except Exception as exc:
                if self.catalog(ref) is None:
                    raise ConcurrentRunError(
                        f"staging table {ref.display()} was dropped while this run loaded it (another run of the "
                        "process cleaned up)",
                        step="stage",
                        fix="run one copy of the process at a time",
                    ) from None
                raise exc

    def staged_duplicates(self, staged: StagedLoad, key: tuple[str, ...]) -> pa.Table:
        """Rows whose key appeared earlier in the load (the first occurrence stays)."""
        ref: TableRef = staged.handle
        keys, seq = ", ".join(quote(k) for k in key), quote(SEQ_COLUMN)
        distinct = self.client.rows(f"SELECT count() FROM (SELECT DISTINCT {keys} FROM {table(ref)})")
        if int(distinct[0][0]) == staged.rows:
            return pa.table({SEQ_COLUMN: pa.array([], pa.int64())})
        return self.client.arrow(
            f"SELECT * EXCEPT dpone_rn FROM (SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY {seq}) "
            f"AS dpone_rn FROM {table(ref)}) WHERE dpone_rn > 1 ORDER BY {seq}",
            step="stage",
        )

    def discard_staged(self, staged: StagedLoad, seqs: pa.Array) -> StagedLoad:
        """Delete staged rows by sequence number (a lightweight delete on the staging table only)."""
        ref: TableRef = staged.handle
        values = [int(v) for v in seqs.to_pylist()]
        for start in range(0, len(values), 10_000):
            self.client.command(
                f"DELETE FROM {table(ref)} WHERE {quote(SEQ_COLUMN)} IN {{seqs:Array(Int64)}}",
                {"seqs": values[start : start + 10_000]},
                settings={"lightweight_deletes_sync": 2},
                step="stage",
            )
        rows = int(self.client.rows(f"SELECT count() FROM {table(ref)}")[0][0])
        return StagedLoad(staged.load_id, staged.location, rows, staged.schema, ref)

    def drop_staging(self, staged: StagedLoad) -> None:
        """Drop the staging table unless an unfinished publish needs it (best effort)."""
        ref: TableRef = staged.handle
        if ref.name in self.kept or ref.name in self.dropped:
            return
        try:
            self.client.command(f"DROP TABLE IF EXISTS {table(ref)}")
        except Exception:  # noqa: BLE001 - best effort: the next run's clean-up drops leftovers
            return

    def cleanup_orphans(self, process: str) -> list[str]:
        """Finish a publish a killed run left, then drop that process's leftover staging."""
        from dpone_core.connectors.clickhouse.recovery import recover

        return recover(self, process)

    # ---- commit ----------------------------------------------------------------------------------
    @contextmanager
    def finalize(self, process: str, load_id: str) -> Iterator[ClickHouseCommit]:
        """Lease, build, journal, publish, journal: the commit protocol of ``commit.py``."""
        from dpone_core.connectors.clickhouse.commit import committing

        with committing(self, process, load_id) as session:
            yield session

    def staging_name(self, kind: str, process: str, load_id: str) -> str:
        """The name of one of this sink's staging tables (see :func:`staging_name`)."""
        return staging_name(kind, str(self.table.schema), process, load_id)

    def staging_tables(self, process: str) -> list[str]:
        """Names of this process's staging and built tables."""
        rows = self.client.rows(f"SELECT name FROM system.tables WHERE {STAGING_WHERE}", self.staging_params(process))
        return [str(r[0]) for r in rows]

    def staging_params(self, process: str) -> dict[str, object]:
        """The parameters of :data:`STAGING_WHERE` for ``process``."""
        return {
            "d": self.staging_database,
            "a": self.staging_name("stg", process, ""),
            "b": self.staging_name("new", process, ""),
        }

    def read_target(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The whole target as Arrow, typed as the source reads it (enums as text, zones kept)."""
        from dpone_core.connectors.clickhouse.source import ClickHouseSource

        source = ClickHouseSource(
            self.client,
            database=str(self.table.schema),
            table=self.table,
            query=None,
            params={},
            where=self.client.where,
        )
        reader = source.read(ReadRequest(columns=tuple(columns) if columns else None))
        return reader.read_all()

    def reconcile_access(self) -> SqlAccess | None:
        """What the publish will make visible, before it does (see :attr:`built`)."""
        if self.built is None:
            return None
        return SqlAccess("clickhouse", self._query_named, self.built.schema, self.built.name, self.built_scope)

    def _query_named(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.client.rows(sql, dict(params), step="reconcile", what="reconciling the built version")

    def maintain(self, statements: Sequence[str]) -> list[str]:
        """Run maintenance statements (``OPTIMIZE TABLE {table} FINAL``)."""
        done = []
        for statement in statements:
            rendered = statement.format(table=table(self.table))
            self.client.command(rendered, step="maintenance")
            done.append(rendered)
        return done

    def close(self) -> None:
        """Close the client."""
        self.client.close()


if TYPE_CHECKING:

    def _is_a_sink(sink: ClickHouseSink) -> Sink:
        return sink  # mypy checks the class against the port here
