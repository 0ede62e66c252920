"""DuckDB dialect: type names and the few places DuckDB's SQL differs from the shared rendering."""

from __future__ import annotations

import pyarrow as pa

from dpone_core.strategies.dialect import SqlDialect


class DuckDBDialect(SqlDialect):
    """DuckDB SQL; parameters use ``?``."""

    name = "duckdb"
    placeholder = "?"

    TYPE_NAMES = (
        (pa.types.is_float64, "DOUBLE"),
        (pa.types.is_float32, "FLOAT"),
        (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "VARCHAR"),
        (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), "BLOB"),
        (lambda t: pa.types.is_timestamp(t) and t.tz is not None, "TIMESTAMPTZ"),
        (pa.types.is_timestamp, "TIMESTAMP"),
        (pa.types.is_uint8, "UTINYINT"),
        (pa.types.is_uint16, "USMALLINT"),
        (pa.types.is_uint32, "UINTEGER"),
        (pa.types.is_uint64, "UBIGINT"),
        (pa.types.is_int8, "TINYINT"),
        *SqlDialect.TYPE_NAMES,
    )
    """DuckDB's names (TIMESTAMPTZ keeps the instant; DOUBLE, BLOB, VARCHAR, unsigned integers) first."""
