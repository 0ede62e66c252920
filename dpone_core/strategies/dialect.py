"""SQL dialect: identifier quoting, parameter placeholders and Arrow -> SQL type names.

Each SQL sink subclasses :class:`SqlDialect` (see ``connectors/<system>/sql.py``); strategies and
DDL are rendered against this interface so every sink shares one set of plans.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from dpone_core.model import TableRef


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


class SqlDialect:
    """Rendering rules shared by ANSI-ish engines (DuckDB, Postgres); override per system."""

    name = "ansi"
    placeholder = "?"
    supports_update_from = True
    truncate_full_refresh = False
    """full_refresh empties the target with a counted, transactional TRUNCATE instead of DELETE."""
    upsert_on_conflict = False
    """merge is one ``INSERT ... ON CONFLICT (key) DO UPDATE`` (the target has a unique index on the key)."""

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

    def type_sql(self, arrow_type: pa.DataType) -> str:
        """SQL type for an Arrow type; timestamps with a zone keep it."""
        if isinstance(arrow_type, pa.BaseExtensionType):
            names = {"arrow.uuid": "UUID", "arrow.json": "JSON"}
            if arrow_type.extension_name in names:
                return names[arrow_type.extension_name]
            return self.type_sql(arrow_type.storage_type)
        if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
            return f"{self.type_sql(arrow_type.value_type)}[]"
        if pa.types.is_interval(arrow_type):
            return "INTERVAL"
        if pa.types.is_boolean(arrow_type):
            return "BOOLEAN"
        if pa.types.is_int8(arrow_type) or pa.types.is_int16(arrow_type):
            return "SMALLINT"
        if pa.types.is_int32(arrow_type):
            return "INTEGER"
        if pa.types.is_int64(arrow_type):
            return "BIGINT"
        if pa.types.is_unsigned_integer(arrow_type):
            return "BIGINT" if arrow_type.bit_width < 64 else "NUMERIC(20, 0)"
        if pa.types.is_float16(arrow_type) or pa.types.is_float32(arrow_type):
            return "REAL"
        if pa.types.is_float64(arrow_type):
            return "DOUBLE PRECISION"
        if pa.types.is_decimal(arrow_type):
            return f"NUMERIC({arrow_type.precision}, {arrow_type.scale})"
        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            return "TEXT"
        if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
            return "BYTEA"
        if pa.types.is_date(arrow_type):
            return "DATE"
        if pa.types.is_time(arrow_type):
            return "TIME"
        if pa.types.is_timestamp(arrow_type):
            return "TIMESTAMP WITH TIME ZONE" if arrow_type.tz else "TIMESTAMP"
        if pa.types.is_duration(arrow_type):
            return "INTERVAL"
        raise TypeError(f"no SQL type for Arrow type {arrow_type}")

    def alter_type_sql(self, table: TableRef, column: str, new_type: pa.DataType) -> str:
        """Widen a column's type in place."""
        return f"ALTER TABLE {self.table(table)} ALTER COLUMN {self.quote(column)} TYPE {self.type_sql(new_type)}"

    def date_trunc(self, grain: str, expression: str) -> str:
        """Truncate a temporal expression to ``grain`` (hour, day, week, month, year)."""
        return f"date_trunc('{grain}', {expression})"

    def is_true(self, expression: str) -> str:
        """Predicate true only for boolean TRUE (NULL counts as false)."""
        return f"{expression} IS TRUE"
