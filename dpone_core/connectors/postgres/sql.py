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

    TYPE_NAMES = (
        (lambda t: isinstance(t, pa.BaseExtensionType) and t.extension_name == "arrow.json", "JSONB"),
        (pa.types.is_dictionary, lambda d, t: d.type_sql(t.value_type)),
        (pa.types.is_null, "TEXT"),
        (lambda t: pa.types.is_interval(t) or pa.types.is_duration(t), "INTERVAL"),
        (pa.types.is_fixed_size_binary, "BYTEA"),
        *SqlDialect.TYPE_NAMES,
    )
    """Postgres' rules first: jsonb for JSON, dictionaries as their values, untyped nulls as text.

    >>> PostgresDialect().type_sql(pa.decimal128(18, 2)), PostgresDialect().type_sql(pa.timestamp("us", "UTC"))
    ('NUMERIC(18, 2)', 'TIMESTAMP WITH TIME ZONE')
    """

    def alter_type_sql(self, table: TableRef, column: str, new_type: pa.DataType) -> str:
        """Widen in place; ``USING`` makes the conversion explicit (Postgres rewrites the table)."""
        sql = super().alter_type_sql(table, column, new_type)
        return f"{sql} USING {self.quote(column)}::{self.type_sql(new_type)}"
