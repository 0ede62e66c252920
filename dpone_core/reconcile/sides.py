"""One side of a comparison: the :class:`ReconcileSide` protocol, and :class:`SqlSide`, which hashes in SQL.

A side answers four questions: its columns' types, the bounds of an integer key, the count and
checksum of each segment of a key range (grouped in one query), and the rows of a key range in
key order, as normalised texts. :class:`SqlSide` needs only a function that runs one query with
named parameters and returns its rows, a dialect name and a table, plus an optional window (an
extra WHERE given as SQL and its parameters): a sink can hand it the query function of its open
finalize transaction to reconcile the load's window before it commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dpone_core.reconcile.dialects import Dialect, dialect
from dpone_core.reconcile.types import ColumnType, sql_type

QueryFn = Callable[[str, Mapping[str, Any]], Iterable[Sequence[Any]]]
"""Runs one SQL query with named parameters (in the dialect's placeholder style) and yields its rows."""


@dataclass(frozen=True)
class SqlFilter:
    """An extra WHERE condition in one dialect, with its named parameters (a load's window)."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Compared:
    """What both sides hash: the key, the compared columns, their merged types, a source delete marker."""

    key: tuple[str, ...]
    columns: tuple[str, ...]
    types: Mapping[str, ColumnType]
    delete_column: str | None = None


@dataclass(frozen=True)
class SegmentStat:
    """One segment's rows (not marked deleted), their checksum (mod 2**64) and the rows marked deleted."""

    count: int
    checksum: int
    deleted: int = 0


@dataclass(frozen=True)
class FetchedRow:
    """A row as compared: its raw key (for order), key and column texts, and its delete marker."""

    key: tuple[Any, ...]
    key_texts: tuple[str, ...]
    texts: tuple[str, ...]
    deleted: bool = False


class ReconcileSide(Protocol):
    """One end of a comparison (see the module docstring)."""

    name: str
    """For messages and the report (never a connection string)."""

    def column_types(self) -> dict[str, ColumnType]:
        """Every column's own type, by name."""
        ...

    def key_bounds(self, key: str, spec: Compared) -> tuple[int, int] | None:
        """(min, max) of an integer key column in scope, None when there are no rows."""
        ...

    def segment_stats(self, spec: Compared, low: int, high: int, width: int) -> dict[int, SegmentStat]:
        """Per segment ``(key - low) // width`` of the keys in ``[low, high)``: its stat (absent: no rows)."""
        ...

    def fetch_rows(self, spec: Compared, low: int | None, high: int | None) -> Iterator[FetchedRow]:
        """The rows with keys in ``[low, high)`` (None: unbounded), in key order."""
        ...


class SqlSide:
    """A table in a SQL database, hashed by the database itself (see the module docstring)."""

    def __init__(
        self,
        query: QueryFn,
        dialect_name: str,
        schema: str | None,
        table: str,
        *,
        window: SqlFilter | None = None,
        name: str | None = None,
        types: Mapping[str, ColumnType] | None = None,
    ) -> None:
        self.query, self.d = query, dialect(dialect_name)
        self.schema, self.table_name, self.window = schema, table, window
        self.name = name or f"{dialect_name}:{schema + '.' if schema else ''}{table}"
        self._types = dict(types) if types is not None else None
        self.queries = 0
        self.native_hash = False
        """Segment sums with the engine's own hash: set by the engine when both sides are one dialect."""

    def _run(self, sql: str, params: Mapping[str, Any]) -> Iterator[Sequence[Any]]:
        self.queries += 1
        # Only the placeholders the statement uses: DuckDB refuses a named parameter it does not read.
        used = {k: v for k, v in params.items() if self.d.param(k, v) in sql}
        yield from self.query(sql, {**used, **(self.window.params if self.window else {})})

    def column_types(self) -> dict[str, ColumnType]:
        """From the catalog (information_schema, or ClickHouse's system.columns), unless given."""
        if self._types is None:
            self._types = catalog_types(self.query, self.d, self.schema, self.table_name)
        return dict(self._types)

    def _where(self, spec: Compared, low: int | None, high: int | None) -> tuple[list[str], dict[str, Any]]:
        d, key = self.d, self.d.quote(spec.key[0])
        parts, params = [], {}
        if low is not None:
            parts.append(f"{key} >= {d.param('rc_lo', low)}")
            params["rc_lo"] = low
        if high is not None:
            parts.append(f"{key} < {d.param('rc_hi', high)}")
            params["rc_hi"] = high
        if self.window is not None:
            parts.append(f"({self.window.sql})")
        return parts, params

    def _from(self, parts: list[str]) -> str:
        return f" FROM {self.d.table(self.schema, self.table_name)}" + (
            f" WHERE {' AND '.join(parts)}" if parts else ""
        )

    def key_bounds(self, key: str, spec: Compared) -> tuple[int, int] | None:
        """min and max of the key in scope (one query)."""
        parts, params = self._where(spec, None, None)
        quoted = self.d.quote(key)
        rows = list(self._run(f"SELECT min({quoted}), max({quoted})" + self._from(parts), params))
        low, high = rows[0] if rows else (None, None)
        return None if low is None or high is None else (int(low), int(high))

    def _texts(self, spec: Compared, names: Sequence[str]) -> list[str]:
        own = self.column_types()
        return [self.d.text_of(c, spec.types[c], own.get(c, spec.types[c])) for c in names]

    def segment_stats(self, spec: Compared, low: int, high: int, width: int) -> dict[int, SegmentStat]:
        """``SELECT bucket, count, sum(hash) ... GROUP BY bucket`` over ``[low, high)``."""
        d = self.d
        parts, params = self._where(spec, low, high)
        params.update(rc_base=low, rc_w=width)
        bucket = d.bucket.format(k=d.quote(spec.key[0]), lo=d.param("rc_base", low), w=d.param("rc_w", width))
        rule = d.native_hash if self.native_hash else d.row_hash
        row_hash = rule.format(t=d.row_text(self._texts(spec, spec.key + spec.columns)))
        if spec.delete_column is None:
            aggregates = f"count(*), sum({row_hash}), 0"
        else:
            marked = d.is_true.format(c=d.quote(spec.delete_column))
            aggregates = (
                f"sum(CASE WHEN {marked} THEN 0 ELSE 1 END), "
                f"sum(CASE WHEN {marked} THEN {d.zero_hash} ELSE {row_hash} END), "
                f"sum(CASE WHEN {marked} THEN 1 ELSE 0 END)"
            )
        sql = f"SELECT {bucket} AS rc_b, {aggregates}" + self._from(parts) + " GROUP BY rc_b"
        return {
            int(b): SegmentStat(int(n or 0), int(total or 0) & ((1 << 64) - 1), int(deleted or 0))
            for b, n, total, deleted in self._run(sql, params)
        }

    def fetch_rows(self, spec: Compared, low: int | None, high: int | None) -> Iterator[FetchedRow]:
        """The range's keys, normalised texts and delete markers, ordered by key."""
        d = self.d
        parts, params = self._where(spec, low, high)
        key_cols = [d.quote(k) for k in spec.key]
        selected = key_cols + self._texts(spec, spec.key + spec.columns)
        if spec.delete_column is not None:
            selected.append(d.is_true.format(c=d.quote(spec.delete_column)))
        order = ", ".join(
            q + (d.text_order if spec.types[k].kind == "text" else "") for q, k in zip(key_cols, spec.key, strict=True)
        )
        sql = f"SELECT {', '.join(selected)}" + self._from(parts) + f" ORDER BY {order}"
        n = len(spec.key)
        for row in self._run(sql, params):
            yield FetchedRow(
                tuple(row[:n]),
                tuple(row[n : 2 * n]),
                tuple(row[2 * n : 2 * n + len(spec.columns)]),
                bool(row[-1]) if spec.delete_column is not None else False,
            )


def catalog_types(query: QueryFn, d: Dialect, schema: str | None, table: str) -> dict[str, ColumnType]:
    """Column types of a table from its catalog (names as stored)."""
    if d.name == "clickhouse":
        sql = "SELECT name, type, NULL FROM system.columns WHERE table = {t:String}"
        sql += " AND database = {s:String}" if schema else " AND database = currentDatabase()"
        params: dict[str, Any] = {"t": table, "s": schema or ""}
    else:
        sql = (
            "SELECT column_name, data_type, numeric_scale FROM information_schema.columns "
            f"WHERE table_name = {d.param('t', table)}"
        )
        sql += f" AND table_schema = {d.param('s', schema)}" if schema else ""
        sql += " ORDER BY ordinal_position"
        params = {"t": table, "s": schema}
    used = {k: v for k, v in params.items() if d.param(k, v) in sql}
    return {
        str(name): sql_type(str(kind), None if scale is None else int(scale)) for name, kind, scale in query(sql, used)
    }
