"""ClickHouse SQL: quoting, literals, and CREATE TABLE with an engine, ORDER BY, PARTITION BY and settings.

Identifiers are quoted with backticks (backslash-escaped), so any column name round-trips. Values
travel as server-side ``{name:Type}`` parameters; the few literals in DDL (a time zone, a comment)
go through :func:`literal`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dpone_core.connectors.clickhouse.types import clickhouse_type, quote_text
from dpone_core.model import TableRef, TargetSchema

DEDUP_WINDOW = 10_000
"""``non_replicated_deduplication_window`` of the tables dpone creates: how many recent insert
blocks a retried insert is checked against (a retry of any of them is dropped, not doubled)."""

GRAIN_EXPRESSIONS = {
    "hour": "toStartOfHour({})",
    "day": "toDate({})",
    "week": "toMonday({})",
    "month": "toYYYYMM({})",
    "year": "toYear({})",
}
"""The PARTITION BY expression of each time grain (a partition per slice of partition_replace)."""

_ENGINE = re.compile(
    r"^(Replicated|Shared)?(Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing)?MergeTree"
    r"(\([\w\s,'{}/.-]*\))?$"
)
"""A MergeTree-family engine with plain arguments (column names, Keeper paths, macros)."""


def replicated(engine: str) -> bool:
    """A table engine whose changes go through Keeper (``Replicated*``, ClickHouse Cloud's ``Shared*``)."""
    return engine.startswith(("Replicated", "Shared"))


def quote(identifier: str) -> str:
    """A quoted identifier.

    >>> quote("my `col`")
    '`my \\\\`col\\\\``'
    """
    if not identifier or "\x00" in identifier:
        raise ValueError(f"invalid identifier {identifier!r}: empty or contains NUL")
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def literal(text: str) -> str:
    """A string literal (for DDL only; values are parameters)."""
    if "\x00" in text:
        raise ValueError("string literal contains NUL")
    return quote_text(text)


def table(ref: TableRef) -> str:
    """``db`.`name``, or the bare name in the default database."""
    return f"{quote(ref.schema)}.{quote(ref.name)}" if ref.schema else quote(ref.name)


def column_list(columns: Sequence[str], alias: str | None = None) -> str:
    """Quoted, comma-separated columns (qualified by ``alias``)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + quote(c) for c in columns)


def partition_expression(column: str, grain: str | None) -> str:
    """The PARTITION BY expression whose partitions are ``column``'s slices at ``grain``."""
    if grain is None:
        return quote(column)
    if grain not in GRAIN_EXPRESSIONS:
        raise ValueError(f"unknown grain {grain}")
    return GRAIN_EXPRESSIONS[grain].format(quote(column))


def same_expression(left: str, right: str) -> bool:
    """Two key expressions are the same up to quoting and spaces (as ``system.tables`` prints them)."""

    def norm(text: str) -> str:
        return re.sub(r"[`\"\s]", "", text)

    return norm(left) == norm(right)


@dataclass(frozen=True)
class TableLayout:
    """How dpone creates a table: engine, sorting key, partition key (from the manifest's options)."""

    engine: str = "MergeTree"
    order_by: tuple[str, ...] = ()
    partition_by: str | None = None
    """A PARTITION BY expression (from :func:`partition_expression`), or None."""

    def __post_init__(self) -> None:
        if not _ENGINE.match(self.engine):
            raise ValueError(f"engine {self.engine!r} is not a MergeTree-family engine")


def create_table_sql(ref: TableRef, schema: TargetSchema, layout: TableLayout, comment: str | None = None) -> str:
    """CREATE TABLE with Nullable only where the schema allows nulls, and dpone's dedup window.

    >>> import pyarrow as pa
    >>> from dpone_core.model import TargetColumn
    >>> s = TargetSchema((TargetColumn("id", pa.int64(), False), TargetColumn("v", pa.string())), ("id",))
    >>> create_table_sql(TableRef("db", "t"), s, TableLayout(order_by=("id",)))[:80]
    'CREATE TABLE `db`.`t` (`id` Int64, `v` Nullable(String)) ENGINE = MergeTree ORDE'
    """
    columns = ", ".join(f"{quote(c.name)} {clickhouse_type(c.type, c.nullable, c.name)}" for c in schema.columns)
    order = f"({column_list(layout.order_by)})" if layout.order_by else "tuple()"
    nullable_key = any(schema.column(k) is not None and schema.column(k).nullable for k in layout.order_by)  # type: ignore[union-attr]
    settings = [f"non_replicated_deduplication_window = {DEDUP_WINDOW}"]
    if nullable_key or layout.partition_by:
        settings.append("allow_nullable_key = 1")
    sql = f"CREATE TABLE {table(ref)} ({columns}) ENGINE = {layout.engine}"
    if layout.partition_by:
        sql += f" PARTITION BY {layout.partition_by}"
    sql += f" ORDER BY {order} SETTINGS {', '.join(settings)}"
    if comment:
        sql += f" COMMENT {literal(comment)}"
    return sql


def add_column_sql(ref: TableRef, column: str, ch_type: str) -> str:
    """Add a column (a metadata change; existing parts read it as its default)."""
    return f"ALTER TABLE {table(ref)} ADD COLUMN IF NOT EXISTS {quote(column)} {ch_type}"


def modify_column_sql(ref: TableRef, column: str, ch_type: str) -> str:
    """Widen a column's type (a mutation that rewrites the column's data)."""
    return f"ALTER TABLE {table(ref)} MODIFY COLUMN {quote(column)} {ch_type}"
