"""Arrow types and schemas of the type-mapping and DDL spec tests, and the dialects they run in."""

from __future__ import annotations

import pyarrow as pa

from dpone_core.connectors.duckdb.sql import DuckDBDialect
from dpone_core.connectors.postgres.sql import PostgresDialect
from dpone_core.model import TableRef, TargetColumn, TargetSchema
from dpone_core.strategies.dialect import SqlDialect

TYPES: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float16": pa.float16(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "decimal": pa.decimal128(18, 2),
    "decimal_wide": pa.decimal256(50, 10),
    "string": pa.string(),
    "large_string": pa.large_string(),
    "binary": pa.binary(),
    "fixed_binary": pa.binary(16),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamp_tz": pa.timestamp("us", "UTC"),
    "duration": pa.duration("us"),
    "interval": pa.month_day_nano_interval(),
    "list_int": pa.list_(pa.int32()),
    "dictionary": pa.dictionary(pa.int32(), pa.string()),
    "null": pa.null(),
    "uuid": pa.uuid(),
}

DIALECTS: dict[str, SqlDialect] = {"ansi": SqlDialect(), "duckdb": DuckDBDialect(), "postgres": PostgresDialect()}

TABLE = TableRef("an", "Orders")
SCHEMA = TargetSchema(
    (
        TargetColumn("id", pa.int64(), False),
        TargetColumn("amount", pa.decimal128(18, 2), False),
        TargetColumn("Note", pa.string()),
        TargetColumn("at", pa.timestamp("us", "UTC")),
    ),
    ("id",),
)
WIDER = TargetSchema(
    (
        TargetColumn("id", pa.int64(), False),
        TargetColumn("amount", pa.decimal128(20, 2), False),
        TargetColumn("Note", pa.string()),
        TargetColumn("at", pa.timestamp("us", "UTC")),
        TargetColumn("extra", pa.int32()),
    ),
    ("id",),
)
