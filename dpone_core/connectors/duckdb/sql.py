"""DuckDB dialect: type names and the few places DuckDB's SQL differs from the shared rendering."""

from __future__ import annotations

import pyarrow as pa

from dpone_core.strategies.dialect import SqlDialect


class DuckDBDialect(SqlDialect):
    """DuckDB SQL; parameters use ``?``."""

    name = "duckdb"
    placeholder = "?"

    def type_sql(self, arrow_type: pa.DataType) -> str:
        """DuckDB type for an Arrow type (TIMESTAMPTZ keeps the instant; DOUBLE/BLOB/VARCHAR names)."""
        if pa.types.is_float64(arrow_type):
            return "DOUBLE"
        if pa.types.is_float32(arrow_type):
            return "FLOAT"
        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            return "VARCHAR"
        if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
            return "BLOB"
        if pa.types.is_timestamp(arrow_type):
            return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
        if pa.types.is_unsigned_integer(arrow_type):
            return {8: "UTINYINT", 16: "USMALLINT", 32: "UINTEGER", 64: "UBIGINT"}[arrow_type.bit_width]
        if pa.types.is_int8(arrow_type):
            return "TINYINT"
        return super().type_sql(arrow_type)
