"""Postgres dialect: identifier quoting, parameter marks for psycopg2, and Arrow -> Postgres types."""

from __future__ import annotations

import pyarrow as pa

from dpone_core.model import TableRef
from dpone_core.strategies.dialect import SqlDialect

PLACEHOLDER = "\x00p"
"""Parameter mark used while rendering. Quoted identifiers cannot contain NUL (``quote`` refuses it),
so :func:`to_pyformat` can turn every other ``%`` into ``%%`` and this mark into ``%s`` safely."""


def to_pyformat(sql: str) -> str:
    """Turn dialect-rendered SQL into psycopg2's pyformat (literal ``%`` doubled, marks -> ``%s``).

    >>> to_pyformat('SELECT "a%b" FROM t WHERE x = \\x00p')
    'SELECT "a%%b" FROM t WHERE x = %s'
    """
    return sql.replace("%", "%%").replace(PLACEHOLDER, "%s")


class PostgresDialect(SqlDialect):
    """PostgreSQL SQL; values are always bound, identifiers always quoted."""

    name = "postgres"
    placeholder = PLACEHOLDER

    def __init__(self, *, truncate_full_refresh: bool = False, upsert_on_conflict: bool = False) -> None:
        # Off by default: the sink turns them on per load after checking the target (see PostgresSink).
        self.truncate_full_refresh = truncate_full_refresh
        self.upsert_on_conflict = upsert_on_conflict

    def type_sql(self, arrow_type: pa.DataType) -> str:
        """Postgres type for an Arrow type: decimals keep precision, zoned timestamps keep the zone.

        >>> PostgresDialect().type_sql(pa.decimal128(18, 2)), PostgresDialect().type_sql(pa.timestamp("us", "UTC"))
        ('NUMERIC(18, 2)', 'TIMESTAMP WITH TIME ZONE')
        """
        if isinstance(arrow_type, pa.BaseExtensionType):
            name = arrow_type.extension_name
            if name == "arrow.uuid":
                return "UUID"
            if name == "arrow.json":
                return "JSONB"
            return self.type_sql(arrow_type.storage_type)
        if pa.types.is_dictionary(arrow_type):
            return self.type_sql(arrow_type.value_type)
        if pa.types.is_null(arrow_type):
            return "TEXT"
        if pa.types.is_int8(arrow_type):
            return "SMALLINT"
        if pa.types.is_decimal(arrow_type):
            return f"NUMERIC({arrow_type.precision}, {arrow_type.scale})"
        if pa.types.is_interval(arrow_type) or pa.types.is_duration(arrow_type):
            return "INTERVAL"
        if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
            return f"{self.type_sql(arrow_type.value_type)}[]"
        if pa.types.is_fixed_size_binary(arrow_type):
            return "BYTEA"
        return super().type_sql(arrow_type)

    def alter_type_sql(self, table: TableRef, column: str, new_type: pa.DataType) -> str:
        """Widen in place; ``USING`` makes the conversion explicit (Postgres rewrites the table)."""
        sql = super().alter_type_sql(table, column, new_type)
        return f"{sql} USING {self.quote(column)}::{self.type_sql(new_type)}"
