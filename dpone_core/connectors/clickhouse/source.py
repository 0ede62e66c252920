"""ClickHouse source: a table or a parameterised query, streamed as Arrow (``FORMAT ArrowStream``).

The schema is known before anything is read: ``system.columns`` for a table, ``DESCRIBE (query)``
for a query, each type mapped by :func:`.types.arrow_type`. The server's Arrow output differs
from that mapping for a few types (Enum and IPv4 come as integers, DateTime as UInt32, Int128 as
raw bytes, FixedString as fixed-size binary), so the SELECT casts those columns on the server,
and each batch is cast to the schema: every batch has the same one.

Filters (cursor, partitions) are pushed down with server-side ``{name:Type}`` parameters typed by
the value (microseconds and time zones kept), in a subquery beneath the casts, so a cast column's
alias never stands in for the column a predicate compares. Never LIMIT/OFFSET: one streamed
query, re-chunked on the client to ``batch_rows``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.checkpoints import checkpoint
from dpone_core.connectors.clickhouse.client import ClickHouseClient
from dpone_core.connectors.clickhouse.profile import SettingValue
from dpone_core.connectors.clickhouse.sql import quote, table
from dpone_core.connectors.clickhouse.types import ChType, arrow_type, parse, quote_text
from dpone_core.errors import ConfigurationError, TerminalError
from dpone_core.model import Predicate, ReadRequest, TableRef
from dpone_core.spi.ports import SourceBase, SqlAccess

_OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "==": "="}

AS_TEXT = frozenset(
    {"Enum8", "Enum16", "Enum", "IPv4", "IPv6", "FixedString", "JSON", "Object"}
    | {"Int128", "UInt128", "Int256", "UInt256"}
)
"""Types read as text from the server: their Arrow output is not what :mod:`.types` gives them
(integers too wide for Arrow integers become decimals in the client-side cast)."""

READ_SETTINGS: dict[str, SettingValue] = {
    "output_format_arrow_compression_method": "none",
    "output_format_arrow_low_cardinality_as_dictionary": 0,
}
"""Batches decode as they arrive (the HTTP layer compresses), and LowCardinality comes as its values."""

HIDDEN_KINDS = frozenset({"MATERIALIZED", "ALIAS", "EPHEMERAL"})
"""Columns ``SELECT *`` leaves out; read only when named in ``source.columns``."""

STORED_ENGINES = frozenset({"Log", "TinyLog", "StripeLog", "Memory", "EmbeddedRocksDB", "KeeperMap", "Set", "Join"})
"""Engines that hold their own rows (besides the MergeTree family): reading them reads no other table."""


@dataclass(frozen=True)
class Column:
    """One column of the read: its Arrow field and the expression that selects it."""

    field: pa.Field
    select: str


class ClickHouseSource(SourceBase):
    """Reads a table or a parameterised query (server-side ``{name:Type}`` parameters) from ClickHouse."""

    def __init__(
        self,
        client: ClickHouseClient,
        *,
        database: str,
        table: TableRef | None,
        query: str | None,
        params: dict[str, object],
        where: str,
    ) -> None:
        super().__init__()
        if (table is None) == (query is None):
            raise ConfigurationError("a ClickHouse source reads a table or a query", step="extract", fix="set one")
        self.client, self.where, self.params = client, where, dict(params)
        self.database = (table.schema if table is not None else None) or database
        self.table = TableRef(self.database, table.name) if table is not None else None
        # clickhouse-connect strips a trailing semicolon itself; inside a subquery it is a syntax error
        self.query = query.strip().rstrip(";").strip() if query is not None else None
        self._catalog: list[tuple[str, str, str]] | None = None

    # ---- names -------------------------------------------------------------------------------------
    def describe(self) -> str:
        """``clickhouse:<endpoint>/<db>.<table>`` (``<db>.query`` for a query)."""
        return f"clickhouse:{self.where}/{self.database}.{self._name()}"

    def lineage_name(self) -> tuple[str, str]:
        """OpenLineage namespace (``clickhouse://host:port``) and ``db.table``."""
        return f"clickhouse://{self.where.split('://', 1)[-1]}", f"{self.database}.{self._name()}"

    def database_identity(self) -> str:
        """The server database (the sink's identity on the same server and database)."""
        return f"clickhouse:{self.where}/{self.database}"

    def _name(self) -> str:
        return self.table.name if self.table is not None else "query"

    # ---- catalog -----------------------------------------------------------------------------------
    def _from(self) -> str:
        """The FROM item: the table, or the query as a subselect (its parameters in ``self.params``)."""
        if self.table is not None:
            return table(self.table)
        return f"({self.query}) AS dpone_q"

    def catalog(self) -> list[tuple[str, str, str]]:
        """(name, ClickHouse type, default kind) of every column, in order (read once)."""
        if self._catalog is None:
            self._catalog = self._read_catalog()
        return self._catalog

    def _read_catalog(self) -> list[tuple[str, str, str]]:
        what = f"describing {self.describe()}"
        if self.table is None:
            rows = self.client.rows(f"DESCRIBE ({self.query})", self.params, step="extract", what=what)
            return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]
        rows = self.client.rows(
            "SELECT name, type, default_kind FROM system.columns "
            "WHERE database = {db:String} AND table = {name:String} ORDER BY position",
            {"db": self.database, "name": self.table.name},
            step="extract",
            what=what,
        )
        if not rows:
            raise TerminalError(
                f"source table {self.table.display()} does not exist on {self.where}",
                step="extract",
                fix="create it, or fix source.table (database.table; names are case-sensitive)",
            )
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def columns(self, names: Sequence[str] | None) -> list[Column]:
        """The columns a read selects: ``names`` in that order, or every column ``SELECT *`` returns."""
        known = {name: (ch_type, kind) for name, ch_type, kind in self.catalog()}
        if names is None:
            names = [name for name, _, kind in self.catalog() if kind not in HIDDEN_KINDS]
        missing = [name for name in names if name not in known]
        if missing:
            raise TerminalError(
                f"{self.describe()} has no column {', '.join(missing)} (it has {', '.join(known)})",
                step="extract",
                fix="fix source.columns (names are case-sensitive)",
            )
        return [_column(name, known[name][0]) for name in names]

    # ---- the read ----------------------------------------------------------------------------------
    def sql(self, request: ReadRequest) -> tuple[str, dict[str, object], pa.Schema]:
        """The streamed SELECT, its parameters and the schema every batch is cast to."""
        columns = self.columns(request.columns)
        bare = ", ".join(quote(c.field.name) for c in columns)
        params = dict(self.params)
        conditions = []
        for index, predicate in enumerate(request.predicates):
            conditions.append(self._condition(predicate, f"dpone_w{index}", params))
        sql = f"SELECT {bare} FROM {self._from()}"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        if any(c.select != quote(c.field.name) for c in columns):
            sql = f"SELECT {', '.join(c.select for c in columns)} FROM ({sql}) AS dpone_r"
        return sql, params, pa.schema([c.field for c in columns])

    def _condition(self, predicate: Predicate, name: str, params: dict[str, object]) -> str:
        types = {column: ch_type for column, ch_type, _ in self.catalog()}
        if predicate.column not in types:
            raise TerminalError(
                f"{self.describe()} has no column {predicate.column} to filter on",
                step="extract",
                fix="fix the cursor or partition column (names are case-sensitive)",
            )
        ch_type, value = bind_value(predicate.value, types[predicate.column])
        params[name] = value
        return f"{quote(predicate.column)} {_OPS[predicate.op]} {{{name}:{ch_type}}}"

    def read(self, request: ReadRequest) -> pa.RecordBatchReader:
        """A reader whose schema is known now (from the catalog); the query runs on the first pull."""
        sql, params, schema = self.sql(request)
        return pa.RecordBatchReader.from_batches(schema, self._batches(sql, params, schema, request.batch_rows))

    def _batches(self, sql: str, params: dict[str, object], schema: pa.Schema, rows: int) -> Iterator[pa.RecordBatch]:
        first = True
        what = f"reading {self.describe()}"
        with self.client.arrow_stream(sql, params, settings=READ_SETTINGS, step="extract", what=what) as stream:
            for batch in rechunk((self._conform(b, schema) for b in stream), rows):
                yield batch
                if first:
                    first = False
                    checkpoint("extract")

    def _conform(self, batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
        """``batch`` with exactly ``schema``'s types (a value that does not fit names its column)."""
        if batch.schema.equals(schema):
            return batch
        arrays = []
        for field, raw in zip(schema, batch.columns, strict=True):
            if raw.type == field.type:
                arrays.append(raw)
                continue
            if not _fits(raw, field.type):
                raise self._misfit(field, raw, f"a value has more digits than {field.type} holds")
            try:
                arrays.append(raw.cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise self._misfit(field, raw, str(exc)) from None
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _misfit(self, field: pa.Field, raw: pa.Array, reason: str) -> TerminalError:
        return TerminalError(
            f"{self.describe()}: column {field.name} ({raw.type}) does not fit {field.type}: {reason}",
            step="extract",
            fix=f"cast {field.name} in a source query (for example toString({field.name}))",
        )

    # ---- tables and key ranges ---------------------------------------------------------------------
    def is_stored_table(self) -> bool:
        """The table holds its own rows (MergeTree family, Log, Memory...): reading it reads nothing else.

        A view, a Distributed, Merge or Buffer table, or a table function engine may read any table,
        the load's target included.
        """
        if self.table is None:
            return False
        rows = self.client.rows(
            "SELECT engine FROM system.tables WHERE database = {db:String} AND name = {name:String}",
            {"db": self.database, "name": self.table.name},
            step="extract",
            what=f"engine of {self.describe()}",
        )
        engine = str(rows[0][0]) if rows else ""
        return engine.endswith("MergeTree") or engine in STORED_ENGINES

    def key_bounds(self, column: str) -> tuple[int, int] | None:
        """(min, max) of an integer key column (None for no rows); NULL keys are an error (no range holds them)."""
        field = self.columns([column])[0].field
        if not pa.types.is_integer(field.type):
            raise ConfigurationError(
                f"key-range partitions need an integer column; {column} is {field.type}",
                step="extract",
                fix="partition on an integer column (the sorting key), or use grain/values partitions",
            )
        key = quote(column)
        rows = self.client.rows(
            f"SELECT min({key}), max({key}), countIf({key} IS NULL), count() FROM {self._from()}",
            self.params,
            step="extract",
            what=f"key bounds of {column} in {self.describe()}",
        )
        low, high, nulls, count = rows[0]
        if nulls:
            raise ConfigurationError(
                f"partition column {column} has {nulls} NULL value(s); key ranges would skip those rows",
                step="extract",
                fix="partition on a non-Nullable integer column (e.g. the sorting key)",
            )
        return None if not count else (int(low), int(high))

    def reconcile_access(self) -> SqlAccess | None:
        """A table source by SQL (a query source reads as Arrow)."""
        if self.table is None:
            return None
        return SqlAccess("clickhouse", self._query_named, self.table.schema, self.table.name)

    def _query_named(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.client.rows(sql, dict(params), step="reconcile", what=f"reconciling {self.describe()}")

    def close(self) -> None:
        """Close the client."""
        self.client.close()


def _column(name: str, ch_type: str) -> Column:
    """The Arrow field of a column and its SELECT expression (cast on the server where its Arrow output differs)."""
    arrow, nullable = arrow_type(ch_type, name)
    field = pa.field(name, arrow, nullable)
    readable, changed = server_cast(parse(ch_type))
    if not changed:
        return Column(field, quote(name))
    return Column(field, f"CAST({quote(name)} AS {render(readable)}) AS {quote(name)}")


def server_cast(parsed: ChType) -> tuple[ChType, bool]:
    """The type to cast a column to so that the server's Arrow output carries its values; changed?

    >>> render(server_cast(parse("Array(Enum8('a' = 1))"))[0])
    'Array(String)'
    """
    if parsed.name in AS_TEXT:
        return ChType("String", (), parsed.field), True
    if parsed.name == "DateTime":  # sent as UInt32 seconds; DateTime64(0) arrives as a timestamp
        return ChType("DateTime64", ("0", *parsed.args), parsed.field), True
    if parsed.name == "SimpleAggregateFunction" and isinstance(parsed.args[-1], ChType):
        inner, _ = server_cast(parsed.args[-1])
        return replace(inner, field=parsed.field), True
    args: list[ChType | str] = []
    changed = False
    for arg in parsed.args:
        if isinstance(arg, ChType):
            cast, moved = server_cast(arg)
            args.append(cast)
            changed = changed or moved
        else:
            args.append(arg)
    return (ChType(parsed.name, tuple(args), parsed.field), True) if changed else (parsed, False)


def render(parsed: ChType) -> str:
    """A parsed type as ClickHouse spells it (numbers bare, other arguments quoted).

    >>> render(parse("Tuple(at DateTime64(3, 'UTC'), n Nullable(Int8))"))
    "Tuple(`at` DateTime64(3, 'UTC'), `n` Nullable(Int8))"
    """
    text = parsed.name
    if parsed.args:
        text += f"({', '.join(render(a) if isinstance(a, ChType) else _argument(a) for a in parsed.args)})"
    return f"{quote(parsed.field)} {text}" if parsed.field else text


def _argument(text: str) -> str:
    return text if re.fullmatch(r"-?\d+", text) else quote_text(text)


def bind_value(value: Any, column_type: str) -> tuple[str, object]:
    """The ``{name:Type}`` type and the value of a pushed-down bound, typed by the value.

    Typing by the value keeps what the column's type could drop (a bound's microseconds against a
    DateTime column); ClickHouse compares across the types. Aware datetimes travel in UTC, naive
    ones are taken as UTC (as the runtime's own filter takes them). A datetime against a Date
    column compares as its date, as the runtime's filter does, so the server sends no row the
    runtime would drop.

    >>> bind_value(datetime(2024, 1, 2, 3, 4, 5, 6), "DateTime")
    ("DateTime64(6, 'UTC')", '2024-01-02 03:04:05.000006')
    """
    parsed = parse(column_type)
    while parsed.name in ("Nullable", "LowCardinality") and isinstance(parsed.args[0], ChType):
        parsed = parsed.args[0]
    if isinstance(value, datetime) and parsed.name in ("Date", "Date32"):
        value = value.date()
    if isinstance(value, bool):
        return "Bool", "true" if value else "false"
    if isinstance(value, int):
        bits = next((b for b in (64, 128, 256) if -(1 << (b - 1)) <= value < 1 << (b - 1)), 0)
        return (f"Int{bits}", str(value)) if bits else ("UInt256", str(value))
    if isinstance(value, float):
        return "Float64", repr(value)
    if isinstance(value, Decimal) and value.is_finite():
        exponent = value.as_tuple().exponent
        scale = min(76, max(0, -exponent)) if isinstance(exponent, int) else 0
        return f"Decimal(76, {scale})", format(value, "f")
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo is not None else value
        return "DateTime64(6, 'UTC')", utc.replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, date):
        return "Date32", value.isoformat()
    if isinstance(value, str):
        return "String", value
    # Anything else (a UUID, an IP address) is spelled in the column's own type, without its wrappers.
    return render(parsed), str(value)


def _fits(array: pa.Array, target: pa.DataType) -> bool:
    """Whether integer text fits a decimal's precision (pyarrow's cast to decimal256 wraps around
    instead of failing: 2**256 - 1 becomes -1)."""
    if not (pa.types.is_string(array.type) and pa.types.is_decimal(target)):
        return True
    longest = pc.max(pc.utf8_length(pc.utf8_ltrim(array, characters="-"))).as_py()
    return longest is None or longest <= target.precision


def rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of exactly ``rows`` rows (the last one shorter) from batches of any size."""
    rows = max(1, rows)
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            take = min(rows - count, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            count, offset = count + take, offset + take
            if count == rows:
                yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                pending, count = [], 0
    if count:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
