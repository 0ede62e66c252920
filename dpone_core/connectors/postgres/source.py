"""Postgres source: ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` streamed into Arrow batches.

The ADBC driver runs a parameterless query as a binary COPY and hands out Arrow batches of about
``batch_bytes`` each, so memory stays flat however large the table. Never LIMIT/OFFSET.

Pushed-down predicates (incremental cursor, partitions) and query ``params`` are bound on the
client by psycopg2 (``cursor.mogrify``: libpq's own escaping, the same binding psycopg2 uses for
every statement) because a server-side bind would make the driver materialise the whole result
instead of streaming COPY (measured: 1 batch and 640 MB RSS for 1M rows, against 100 MB).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from dpone_core.checkpoints import checkpoint
from dpone_core.connectors.postgres.connection import (
    AdbcOpener,
    connect,
    connect_adbc,
    connection_params,
    database_identity,
    translate,
    where,
)
from dpone_core.connectors.postgres.parallel_read import CtidRange, RangeReader, SnapshotSessions, table_ranges
from dpone_core.connectors.postgres.profile import PostgresProfile
from dpone_core.connectors.postgres.relay import BinaryRelay, RelayColumn, build_relay
from dpone_core.connectors.postgres.sql import PostgresDialect, to_pyformat
from dpone_core.connectors.postgres.types import conform, plan_columns
from dpone_core.connectors.postgres.xmin import STATE_KEY, XminPlan, plan_xmin
from dpone_core.connectors.sql.params import bind_named
from dpone_core.errors import ConfigurationError, DponeError, TerminalError
from dpone_core.gates.contract import ContractGate
from dpone_core.model import ReadRequest, TableRef
from dpone_core.spi.ports import SourceBase, SqlAccess

_NDIMS_MARK = "dpone-ndims:"
_NDIMS_ERROR = re.compile(re.escape(_NDIMS_MARK) + r"(\d+):(\d+)")
_OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "==": "="}


class PostgresSource(SourceBase):
    """Reads a table (with its NOT NULL columns) or a parameterised query from Postgres."""

    dialect = PostgresDialect()

    def __init__(
        self,
        profile: PostgresProfile,
        base_dir: Path,
        *,
        table: TableRef | None,
        query: str | None,
        params: dict[str, Any],
        process: str = "dpone",
        parallel_reads: int | None = None,
    ) -> None:
        super().__init__()
        self.table, self.query, self.params = table, query, params
        self.parallel_reads = parallel_reads
        self.conn_params = connection_params(profile, base_dir, f"dpone/{process}")
        self.con = connect(self.conn_params)
        self.adbc: Any = None
        self._opener: AdbcOpener | None = AdbcOpener(self.conn_params)  # the COPY's session, opening meanwhile
        self._xmin_committed: int | None = None
        self._xmin_on = False
        self._xmin_open = False
        self._xmin_plan: XminPlan | None = None
        self._arrays: list[str] = []
        self._relay_read: tuple[str, tuple[RelayColumn, ...]] | None = None
        self._ranges_open: tuple[RangeReader, SnapshotSessions] | None = None

    def describe(self) -> str:
        """``postgres:<db>/<table or query>``."""
        return f"postgres:{self.conn_params['dbname']}/{self.table.display() if self.table else 'query'}"

    def database_identity(self) -> str:
        """The server database (host, port, database and service of the resolved parameters)."""
        return database_identity(self.conn_params)

    def lineage_name(self) -> tuple[str, str]:
        """OpenLineage namespace (``postgres://host:port``) and ``db.schema.table``."""
        host = self.conn_params.get("host", "localhost")
        name = self.table.display() if self.table else "query"
        return f"postgres://{host}:{self.conn_params.get('port', '5432')}", f"{self.conn_params['dbname']}.{name}"

    def _from(self) -> tuple[str, dict[str, Any]]:
        """The FROM item (pyformat) and the values it binds: the table, or the query as a subselect."""
        if self.table is not None:
            return to_pyformat(self.dialect.table(self.table)), {}
        assert self.query is not None
        inner, _ = bind_named(self.query.replace("%", "%%"), lambda name: f"%(p_{name})s", self.params)
        return "(" + inner + ") AS dpone_q", {f"p_{k}": v for k, v in self.params.items()}

    def sql(self, request: ReadRequest, extra: str | None = None) -> str:
        """The SELECT this source copies out, every value bound by psycopg2; ``extra``: a ctid range of dpone's."""
        d = self.dialect
        cols = d.column_list(list(request.columns)) if request.columns else "*"
        source, values = self._from()
        base = to_pyformat(f"SELECT {cols} FROM ") + source
        where_parts = []
        for index, predicate in enumerate(request.predicates):
            where_parts.append(to_pyformat(d.quote(predicate.column)) + f" {_OPS[predicate.op]} %(w{index})s")
            values[f"w{index}"] = predicate.value
        if self._xmin_plan is not None and self._xmin_plan.predicate is not None:
            where_parts.append(self._xmin_plan.predicate)
            values.update(self._xmin_plan.values)
        for index, column in enumerate(self._arrays):
            # The driver flattens a multi-dimensional array into a list: fail the COPY on such a row
            # with a cast error carrying the column's index (depends on the row, so never folded).
            ndims = f"array_ndims({to_pyformat(d.quote(column))})"
            where_parts.append(f"CASE WHEN {ndims} > 1 THEN CAST(%(nd{index})s || {ndims} AS int) > 0 ELSE TRUE END")
            values[f"nd{index}"] = f"{_NDIMS_MARK}{index}:"
        if extra is not None:
            where_parts.append(extra)
        sql = base + (f" WHERE {' AND '.join(where_parts)}" if where_parts else "")
        with self.con.cursor() as cur:
            rendered: bytes = cur.mogrify(sql, values)
        return rendered.decode("utf-8")

    def _array_columns(self, request: ReadRequest) -> list[str]:
        """Columns of the read whose type is an array (domains report their base type), from a LIMIT 0."""
        cols = self.dialect.column_list(list(request.columns)) if request.columns else "*"
        source, values = self._from()
        try:
            with self.con.cursor() as cur:
                cur.execute(to_pyformat(f"SELECT {cols} FROM ") + source + " LIMIT 0", values)
                described = [(d.name, d.type_code) for d in cur.description or ()]
                cur.execute(
                    "SELECT oid FROM pg_type WHERE oid = ANY(%s::oid[]) AND typcategory = 'A'",
                    ([int(oid) for _, oid in described],),
                )
                arrays = {int(r[0]) for r in cur.fetchall()}
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, "extract", f"reading {self.describe()}") from None
        return [name for name, oid in described if int(oid) in arrays]

    def _read_error(self, exc: BaseException) -> DponeError:
        """The one-line error for a failed read; a multi-dimensional array names its column."""
        found = _NDIMS_ERROR.search(str(exc))
        if found is None or int(found.group(1)) >= len(self._arrays):
            return translate(exc, "extract", f"reading {self.describe()}")
        column = self._arrays[int(found.group(1))]
        return TerminalError(
            f"{self.describe()}: column {column} holds a multi-dimensional array (array_ndims = {found.group(2)}); "
            "dpone reads 1-D arrays only",
            step="extract",
            fix=f'cast it in a query source, e.g. to_jsonb("{column}") AS "{column}"',
        )

    def is_stored_table(self) -> bool:
        """The table source is a table, partitioned table or materialized view: reading it reads
        nothing else (a view or a foreign table may read any table, the load's target included)."""
        if self.table is None:
            return False
        try:
            with self.con.cursor() as cur:
                cur.execute(
                    "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (self.dialect.table(self.table),)
                )
                row = cur.fetchone()
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, "extract", f"source table {self.table.display()}") from None
        return row is not None and row[0] in ("r", "p", "m")

    # ---- key ranges ---------------------------------------------------------------------------------
    def key_bounds(self, column: str) -> tuple[int, int] | None:
        """(min, max) of an integer key column (None for no rows); NULL keys are an error (no range holds them)."""
        source, values = self._from()
        quoted = to_pyformat(self.dialect.quote(column))
        sql = f"SELECT min({quoted}), max({quoted}), count(*) FILTER (WHERE {quoted} IS NULL) FROM " + source
        try:
            with self.con.cursor() as cur:
                cur.execute(sql, values)
                low, high, nulls = cur.fetchone()
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, "extract", f"key bounds of {column} in {self.describe()}") from None
        if nulls:
            raise ConfigurationError(
                f"partition column {column} has {nulls} NULL value(s); key ranges would skip those rows",
                step="extract",
                fix="partition on a NOT NULL integer column (e.g. the primary key)",
            )
        if low is None:
            return None
        if isinstance(low, bool) or not isinstance(low, int) or not isinstance(high, int):
            raise ConfigurationError(
                f"key-range partitions need an integer column; {column} holds {type(low).__name__} values",
                step="extract",
                fix="partition on an integer column, or use grain/values partitions",
            )
        return low, high

    # ---- xmin incremental ---------------------------------------------------------------------------
    def use_held_state(self, committed: dict[str, Any] | None) -> None:
        """Read rows written after the committed xmin horizon (none: the first read, every row)."""
        if self.table is None:
            raise ConfigurationError(
                "incremental mode xmin needs a table source", step="extract", fix="use source.table"
            )
        horizon = (committed or {}).get(STATE_KEY)
        self._xmin_on, self._xmin_committed = True, int(horizon) if horizon is not None else None

    def held_state(self) -> dict[str, Any] | None:
        """State to commit with the load: the horizon of the snapshot the rows were read in."""
        if self._xmin_plan is None:
            return None
        return {STATE_KEY: self._xmin_plan.horizon}

    def _begin_xmin(self) -> None:
        """Open the REPEATABLE READ transaction the COPY runs in and plan the filter from its snapshot."""
        cursor = self.adbc.cursor()
        try:
            if self._xmin_open:  # a read repeated in this attempt (its stream abandoned) starts afresh
                cursor.execute("ROLLBACK")
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._xmin_open = True
            cursor.execute(
                "SELECT txid_snapshot_xmin(s)::text, txid_snapshot_xmax(s)::text "
                "FROM (SELECT txid_current_snapshot() AS s) AS q"
            )
            row = cursor.fetchone()
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, "extract", f"xmin snapshot of {self.describe()}") from None
        finally:
            cursor.close()
        self._xmin_plan = plan_xmin(self._xmin_committed, int(row[0]), int(row[1]))
        if self._xmin_plan.note:
            self.notes.append(self._xmin_plan.note)

    def _end_xmin(self) -> None:
        if self._xmin_open and self.adbc is not None:
            self._xmin_open = False
            with contextlib.suppress(Exception):
                cursor = self.adbc.cursor()
                try:
                    cursor.execute("COMMIT")
                finally:
                    cursor.close()

    def _columns(self) -> tuple[set[str], dict[str, int], dict[str, int]]:
        """NOT NULL columns, typmods and type OIDs of a table source, from the catalog."""
        if self.table is None:
            return set(), {}, {}
        try:
            with self.con.cursor() as cur:
                cur.execute(
                    "SELECT a.attname, a.attnotnull, a.atttypmod, a.atttypid::int FROM pg_attribute a "
                    "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
                    (self.dialect.table(self.table),),
                )
                rows = cur.fetchall()
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, "extract", f"source table {self.table.display()}") from None
        if not rows:
            raise TerminalError(
                f"source table {self.table.display()} does not exist on {where(self.conn_params)}",
                step="extract",
                fix="create it, or fix source.table (schema.table; names are case-sensitive)",
            )
        not_null = {name for name, flag, _, _ in rows if flag}
        return not_null, {r[0]: int(r[2]) for r in rows}, {r[0]: int(r[3]) for r in rows}

    def read(self, request: ReadRequest) -> pa.RecordBatchReader:
        """A reader whose schema (catalog types, NOT NULL kept) is known now; the COPY starts on the first pull.

        The query is described (parsed and planned, so a wrong column or a missing privilege fails
        here) but not run: a load that relays the rows (:meth:`binary_relay`) never pulls it.
        """
        not_null, typmods, oids = self._columns()
        self._end_ranges()
        self.adbc_session()
        if self._xmin_on:
            self._begin_xmin()
        self._arrays = self._array_columns(request)
        sql = self.sql(request)
        cursor = self.adbc.cursor()
        try:
            cursor.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(max(request.batch_bytes, 1 << 16))}
            )
            described = cursor.adbc_execute_schema(sql)
        except Exception as exc:  # noqa: BLE001
            cursor.close()
            self._end_xmin()
            raise self._read_error(exc) from None
        plans = plan_columns(described, typmods)
        schema = pa.schema([pa.field(p.name, p.declared, p.name not in not_null) for p in plans])
        self._relay_read = None
        if self.table is not None and not self._xmin_on and all(f.name in oids for f in schema):
            columns = tuple(RelayColumn(f.name, oids[f.name], typmods[f.name], f.type) for f in schema)
            self._relay_read = (sql, columns)
        ranges = self._ranges()
        if len(ranges) > 1:
            parallel = self._range_batches(request, ranges, cursor, plans, schema)
            return pa.RecordBatchReader.from_batches(schema, parallel)
        return pa.RecordBatchReader.from_batches(schema, self._batches(sql, cursor, plans, schema))

    def _ranges(self) -> list[CtidRange]:
        """The ctid ranges a read of this table takes (see :mod:`.parallel_read`); one: a single COPY."""
        if self.table is None or self._xmin_on or self.parallel_reads == 1:
            return [CtidRange(0, None)]
        try:
            return table_ranges(self.con, self.dialect.table(self.table), self.parallel_reads)
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, "extract", f"size of {self.describe()}") from None

    def _range_batches(
        self, request: ReadRequest, ranges: list[CtidRange], cursor: Any, plans: list[Any], schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        """The read as ctid ranges on sessions sharing one snapshot; one COPY if those cannot be had."""
        cursor.close()
        sessions = SnapshotSessions.open(self.con, self.adbc, self.conn_params, len(ranges))
        if sessions is None:
            yield from self._batches(self.sql(request), self.adbc.cursor(), plans, schema)
            return
        sqls = [self.sql(request, r.predicate()) for r in ranges]
        reader = RangeReader(sessions.sessions, sqls, request.batch_bytes, lambda b: conform(b, plans, schema))
        self._ranges_open = (reader, sessions)
        try:
            for index, batch in enumerate(reader.batches()):
                yield batch
                if index == 0:
                    checkpoint("extract")
        except DponeError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._read_error(exc) from None
        finally:
            self._end_ranges()

    def _end_ranges(self) -> None:
        """Stop a parallel read's threads and end its sessions (a stream abandoned mid-way is never resumed)."""
        if self._ranges_open is not None:
            reader, sessions = self._ranges_open
            self._ranges_open = None
            reader.close()
            sessions.close()

    def binary_relay(self, contract: ContractGate) -> BinaryRelay | None:
        """The last read as a Postgres binary relay (:mod:`.relay`), when its types and rules allow one.

        Only a table read without an xmin snapshot qualifies: the relay reads in its own session.
        """
        if self._relay_read is None:
            return None
        sql, columns = self._relay_read
        return build_relay(columns, contract, self.conn_params, sql, self.describe())

    def _batches(self, sql: str, cursor: Any, plans: list[Any], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        first = True
        try:
            try:
                cursor.execute(sql)
                raw = cursor.fetch_record_batch()
            except Exception as exc:  # noqa: BLE001
                raise self._read_error(exc) from None
            while True:
                try:
                    batch = raw.read_next_batch()
                except StopIteration:
                    return
                except Exception as exc:  # noqa: BLE001
                    raise self._read_error(exc) from None
                yield conform(batch, plans, schema)
                if first:
                    first = False
                    checkpoint("extract")
        except DponeError:
            raise
        finally:
            cursor.close()
            self._end_xmin()

    def adbc_session(self) -> Any:
        """The ADBC connection that runs the COPY out (opened on a background thread since ``__init__``)."""
        if self.adbc is None:
            if self._opener is None:
                self.adbc = connect_adbc(self.conn_params)
            else:
                self.adbc = self._opener.take()  # interrupted, the opener stays for close() to close
                self._opener = None
        return self.adbc

    def reconcile_access(self) -> SqlAccess | None:
        """A table source by SQL on this source's connection (a query source reads as Arrow)."""
        if self.table is None:
            return None
        return SqlAccess("postgres", self._query_named, self.table.schema, self.table.name)

    def _query_named(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        try:
            with self.con.cursor() as cur:
                cur.execute(sql, dict(params))
                return list(cur.fetchall())
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, "reconcile", self.describe()) from None

    def close(self) -> None:
        """Close both connections (and a parallel read's own)."""
        self._end_ranges()
        if self._opener is not None:
            self._opener.close()
        for con in (self.adbc, self.con):
            if con is not None:
                with contextlib.suppress(Exception):
                    con.close()
