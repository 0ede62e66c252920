"""SQL dialect: quoting, placeholders, the Arrow -> SQL type table and DDL, as data a system overrides.

Each SQL sink subclasses :class:`SqlDialect` (see ``connectors/<system>/sql.py``): its own type
rules go before the shared ones in ``TYPE_NAMES``, a different ``ALTER`` or ``CREATE`` overrides
one method. Strategies render against this interface (:mod:`.render`); the exact SQL per dialect
is pinned by ``tests/unit/specs/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from dpone_core.model import TableRef, TargetSchema


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a plan; ``counts_as`` says which report counter its row count feeds."""

    name: str
    sql: str
    params: tuple[object, ...] = ()
    counts_as: str | None = None
    counts: tuple[str, ...] = ()
    """When set, the statement returns one row whose values feed these report counters, in order
    (the row count is not used); only dialects whose sink reads such rows render these."""


TypeRule = tuple[Callable[[pa.DataType], bool], "str | Callable[[SqlDialect, pa.DataType], str]"]
"""One row of a type table: which Arrow types it matches, and their SQL type (a name, or a function)."""


class SqlDialect:
    """Rendering rules shared by ANSI-ish engines (DuckDB, Postgres); override per system."""

    name = "ansi"
    placeholder = "?"

    def quote(self, identifier: str) -> str:
        """Quote one identifier, doubling embedded quotes.

        >>> SqlDialect().quote('my "col"s')
        '"my ""col""s"'
        """
        if not identifier or "\x00" in identifier:
            raise ValueError(f"invalid identifier {identifier!r}: empty or contains NUL")
        return '"' + identifier.replace('"', '""') + '"'

    def literal(self, text: str) -> str:
        """A string literal (single quotes doubled), for the few places that take no parameters.

        >>> SqlDialect().literal("it's")
        "'it''s'"
        """
        if "\x00" in text:
            raise ValueError("string literal contains NUL")
        return "'" + text.replace("'", "''") + "'"

    def table(self, ref: TableRef) -> str:
        """Quoted, schema-qualified table name."""
        return f"{self.quote(ref.schema)}.{self.quote(ref.name)}" if ref.schema else self.quote(ref.name)

    def column_list(self, columns: tuple[str, ...] | list[str], alias: str | None = None) -> str:
        """Comma-separated quoted columns, optionally qualified by ``alias``."""
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + self.quote(c) for c in columns)

    TYPE_NAMES: tuple[TypeRule, ...] = (
        (lambda t: isinstance(t, pa.BaseExtensionType) and t.extension_name == "arrow.uuid", "UUID"),
        (lambda t: isinstance(t, pa.BaseExtensionType) and t.extension_name == "arrow.json", "JSON"),
        (lambda t: isinstance(t, pa.BaseExtensionType), lambda d, t: d.type_sql(t.storage_type)),
        (lambda t: pa.types.is_list(t) or pa.types.is_large_list(t), lambda d, t: f"{d.type_sql(t.value_type)}[]"),
        (pa.types.is_interval, "INTERVAL"),
        (pa.types.is_boolean, "BOOLEAN"),
        (lambda t: pa.types.is_int8(t) or pa.types.is_int16(t), "SMALLINT"),
        (pa.types.is_int32, "INTEGER"),
        (pa.types.is_int64, "BIGINT"),
        (lambda t: pa.types.is_unsigned_integer(t) and t.bit_width < 64, "BIGINT"),
        (pa.types.is_uint64, "NUMERIC(20, 0)"),
        (lambda t: pa.types.is_float16(t) or pa.types.is_float32(t), "REAL"),
        (pa.types.is_float64, "DOUBLE PRECISION"),
        (pa.types.is_decimal, lambda d, t: f"NUMERIC({t.precision}, {t.scale})"),
        (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "TEXT"),
        (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), "BYTEA"),
        (pa.types.is_date, "DATE"),
        (pa.types.is_time, "TIME"),
        (lambda t: pa.types.is_timestamp(t) and t.tz is not None, "TIMESTAMP WITH TIME ZONE"),
        (pa.types.is_timestamp, "TIMESTAMP"),
        (pa.types.is_duration, "INTERVAL"),
    )
    """Arrow type -> SQL type, first match wins: a dialect puts its own rules before these."""

    def type_sql(self, arrow_type: pa.DataType) -> str:
        """SQL type for an Arrow type (from :attr:`TYPE_NAMES`); timestamps with a zone keep it."""
        for matches, name in self.TYPE_NAMES:
            if matches(arrow_type):
                return name if isinstance(name, str) else name(self, arrow_type)
        raise TypeError(f"no SQL type for Arrow type {arrow_type}")

    # ---- DDL ----------------------------------------------------------------------------------
    def create_table_sql(self, table: TableRef, schema: TargetSchema, if_not_exists: bool = False) -> str:
        """CREATE TABLE with types, NOT NULL and the primary key.

        >>> from dpone_core.model import TargetColumn
        >>> s = TargetSchema((TargetColumn("id", pa.int64(), False), TargetColumn("v", pa.string())), ("id",))
        >>> SqlDialect().create_table_sql(TableRef("a", "t"), s)
        'CREATE TABLE "a"."t" ("id" BIGINT NOT NULL, "v" TEXT, PRIMARY KEY ("id"))'
        """
        parts = [
            f"{self.quote(c.name)} {self.type_sql(c.type)}" + ("" if c.nullable else " NOT NULL")
            for c in schema.columns
        ]
        if schema.primary_key:
            parts.append(f"PRIMARY KEY ({self.column_list(schema.primary_key)})")
        guard = "IF NOT EXISTS " if if_not_exists else ""
        return f"CREATE TABLE {guard}{self.table(table)} ({', '.join(parts)})"

    def add_column_sql(self, table: TableRef, column: str, arrow_type: pa.DataType) -> str:
        """Add a nullable column."""
        return f"ALTER TABLE {self.table(table)} ADD COLUMN {self.quote(column)} {self.type_sql(arrow_type)}"

    def evolve_sql(self, table: TableRef, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
        """DDL turning ``current`` into ``desired``: create, add columns, widen types (never drop)."""
        if current is None:
            return [self.create_table_sql(table, desired)]
        statements = []
        for column in desired.columns:
            existing = current.column(column.name)
            if existing is None:
                statements.append(self.add_column_sql(table, column.name, column.type))
            elif self.type_sql(existing.type) != self.type_sql(column.type):
                statements.append(self.alter_type_sql(table, column.name, column.type))
        return statements

    def alter_type_sql(self, table: TableRef, column: str, new_type: pa.DataType) -> str:
        """Widen a column's type in place."""
        return f"ALTER TABLE {self.table(table)} ALTER COLUMN {self.quote(column)} TYPE {self.type_sql(new_type)}"

    def date_trunc(self, grain: str, expression: str) -> str:
        """Truncate a temporal expression to ``grain`` (hour, day, week, month, year)."""
        return f"date_trunc('{grain}', {expression})"

    def is_true(self, expression: str) -> str:
        """Predicate true only for boolean TRUE (NULL counts as false)."""
        return f"{expression} IS TRUE"
