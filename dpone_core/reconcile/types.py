"""Column kinds both sides agree on before they hash: the same value must give the same text everywhere.

A side declares each column's own type (an SQL type name from its catalog, or an Arrow type);
:func:`merge_types` turns the two declarations into one :class:`ColumnType` per column, the kind
both sides normalise to. Numbers of different kinds compare as decimals at the larger scale, a
timestamp with a zone compares with one without as UTC (dpone reads naive timestamps as UTC),
and anything else that differs compares as plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

KINDS = ("int", "decimal", "float", "bool", "date", "timestamp", "timestamptz", "text", "json")
"""Normalisation kinds. ``json`` is the JSON-rows form's untyped values (numbers by value)."""

FLOAT_SCALE = 6
"""Fractional digits a floating-point value is compared at (engines print floats differently)."""

_NUMERIC = frozenset({"int", "decimal", "float"})
_TIMES = frozenset({"timestamp", "timestamptz"})


@dataclass(frozen=True)
class ColumnType:
    """A column's normalisation kind, and for decimals the number of fractional digits compared."""

    kind: str
    scale: int | None = None

    def fraction_digits(self) -> int:
        """Digits after the point this column is compared at (decimals and floats)."""
        if self.kind == "float":
            return FLOAT_SCALE if self.scale is None else self.scale
        return 0 if self.scale is None else self.scale


def merge_types(source: ColumnType, target: ColumnType) -> ColumnType:
    """The kind both sides normalise a column to (see the module docstring)."""
    if source.kind in _NUMERIC and target.kind in _NUMERIC:
        if source.kind == target.kind == "int":
            return ColumnType("int")
        scales = [_scale_of(t) for t in (source, target)]
        known = [s for s in scales if s is not None]
        return ColumnType("decimal", max(known) if known else FLOAT_SCALE)
    if source.kind in _TIMES and target.kind in _TIMES:
        return ColumnType("timestamp")
    if source.kind == target.kind:
        return source
    if "json" in (source.kind, target.kind):
        return ColumnType("json")
    return ColumnType("text")


def _scale_of(column: ColumnType) -> int | None:
    if column.kind == "int":
        return 0
    if column.kind == "float":
        return FLOAT_SCALE
    return column.scale


_WRAPPERS = re.compile(r"^(NULLABLE|LOWCARDINALITY)\((.*)\)$")
_DECIMAL = re.compile(r"^(DECIMAL|NUMERIC)(\d+)?\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")


def sql_type(type_name: str, scale: int | None = None) -> ColumnType:
    """The kind of an SQL type name as a Postgres, DuckDB or ClickHouse catalog spells it.

    >>> sql_type("Nullable(Decimal(18, 2))"), sql_type("timestamp with time zone").kind, sql_type("BIGINT").kind
    (ColumnType(kind='decimal', scale=2), 'timestamptz', 'int')
    """
    text = type_name.strip().upper()
    while (wrapped := _WRAPPERS.match(text)) is not None:
        text = wrapped.group(2).strip()
    decimal = _DECIMAL.match(text)
    if decimal is not None:
        # ClickHouse's DecimalNN(S) names the scale alone; DECIMAL(P, S) names it second.
        return ColumnType("decimal", int(decimal.group(3)) if decimal.group(2) else int(decimal.group(4) or 0))
    if text.startswith(("DECIMAL", "NUMERIC")):
        return ColumnType("decimal", scale)
    return ColumnType(_sql_kind(text))


def _sql_kind(text: str) -> str:
    """The kind of an upper-cased, unwrapped SQL type name."""
    if re.match(r"^(U?INT\d*|U?BIGINT|U?INTEGER|U?SMALLINT|U?TINYINT|U?HUGEINT)$", text):
        return "int"
    if text.startswith(("FLOAT", "DOUBLE", "REAL")):
        return "float"
    if text in ("BOOLEAN", "BOOL"):
        return "bool"
    if text in ("DATE", "DATE32"):
        return "date"
    if "WITH TIME ZONE" in text or text in ("TIMESTAMPTZ", "TIMESTAMP_TZ") or re.match(r"^DATETIME(64)?\(.*'", text):
        return "timestamptz"
    if text.startswith(("TIMESTAMP", "DATETIME")):
        return "timestamp"
    return "text"


def arrow_type(data_type: pa.DataType) -> ColumnType:
    """The kind of an Arrow type (files, S3 and other streamed sides)."""
    if pa.types.is_integer(data_type):
        return ColumnType("int")
    if pa.types.is_decimal(data_type):
        return ColumnType("decimal", data_type.scale)
    if pa.types.is_floating(data_type):
        return ColumnType("float")
    if pa.types.is_boolean(data_type):
        return ColumnType("bool")
    if pa.types.is_date(data_type):
        return ColumnType("date")
    if pa.types.is_timestamp(data_type):
        return ColumnType("timestamptz" if data_type.tz else "timestamp")
    return ColumnType("text")
