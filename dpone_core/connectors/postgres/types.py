"""The Postgres catalog <-> Arrow type map, and the conversion of ADBC batches to the declared types.

The ADBC driver reads binary COPY into Arrow. Most types arrive ready (ints, floats, text, bytea,
date/time, ``timestamptz`` as ``timestamp[us, UTC]``, ``interval``, ``uuid``, ``json``/``jsonb``,
arrays, enums as text). ``numeric`` arrives as text and is cast to ``decimal128(p, s)`` from the
column's typmod. Anything the map does not know is an error naming the column, with the fix (cast
it in a query source).

Unconstrained ``numeric`` (no precision) becomes ``decimal128(38, 9)``; a value that does not fit
exactly (more than 9 decimals, more than 29 integer digits, NaN, infinity) fails the extract with
the column named, never rounds silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from dpone_core.errors import TerminalError

UNCONSTRAINED_NUMERIC = pa.decimal128(38, 9)
"""Arrow type of a ``numeric`` column declared without precision (documented policy)."""

_SIMPLE: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "citext": pa.string(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "interval": pa.month_day_nano_interval(),
    "bytea": pa.binary(),
    "uuid": pa.uuid(),
    "json": pa.json_(),
    "jsonb": pa.json_(),
}


class UnsupportedType(TerminalError):
    """A column's Postgres type has no Arrow mapping."""

    code = "DPONE_PG_UNSUPPORTED_TYPE"


def numeric_type(typmod: int) -> pa.DataType:
    """Arrow decimal for ``numeric`` with the given typmod (-1: unconstrained).

    >>> numeric_type(1179654), numeric_type(-1)
    (Decimal128Type(decimal128(18, 2)), Decimal128Type(decimal128(38, 9)))
    """
    if typmod < 4:
        return UNCONSTRAINED_NUMERIC
    precision = ((typmod - 4) >> 16) & 0xFFFF
    scale = (typmod - 4) & 0x7FF
    if scale & 0x400:  # Postgres 15 allows a negative scale, stored as an 11-bit signed value
        scale -= 0x800
    if scale < 0:
        precision, scale = precision - scale, 0
    if precision <= 38:
        return pa.decimal128(precision, scale)
    if precision <= 76:
        return pa.decimal256(precision, scale)
    raise ValueError(f"numeric({precision}, {scale}) exceeds the 76 digits Arrow decimals hold")


def arrow_type(
    type_name: str,
    typmod: int = -1,
    *,
    is_enum: bool = False,
    element: str | None = None,
    element_is_enum: bool = False,
) -> pa.DataType | None:
    """Arrow type for a Postgres type (``pg_type.typname``), or None when there is no faithful one.

    >>> arrow_type("timestamptz"), arrow_type("_int4", element="int4")
    (TimestampType(timestamp[us, tz=UTC]), ListType(list<item: int32>))
    """
    if is_enum:
        return pa.string()
    if type_name == "numeric":
        try:
            return numeric_type(typmod)
        except ValueError:
            return None  # wider than Arrow decimals: a text stand-in cast to the column's own type
    if element is not None:
        inner = arrow_type(element, typmod, is_enum=element_is_enum)
        return None if inner is None else pa.list_(inner)
    return _SIMPLE.get(type_name)


def unsupported(column: str, type_name: str) -> UnsupportedType:
    """The error for a column whose type has no mapping."""
    return UnsupportedType(
        f"column {column} has Postgres type {type_name}, which has no faithful Arrow type",
        step="extract",
        fix=f'read it through a query source with an explicit cast, e.g. SELECT "{column}"::text AS "{column}"',
    )


@dataclass(frozen=True)
class ColumnPlan:
    """How one ADBC column becomes the declared Arrow column."""

    name: str
    declared: pa.DataType
    convert: Callable[[pa.Array], pa.Array] | None


def _pg_type(field: pa.Field) -> str:
    meta = field.metadata or {}
    return meta.get(b"POSTGRESQL:type", b"").decode() or str(field.type)


def _storage(array: pa.Array) -> pa.Array:
    return array.storage if isinstance(array, pa.ExtensionArray) else array


def _to_decimal(column: str, target: pa.DataType) -> Callable[[pa.Array], pa.Array]:
    def convert(array: pa.Array) -> pa.Array:
        import pyarrow.compute as pc  # only when a numeric arrives as text; not every run needs compute

        text = _storage(array)
        try:
            return pc.cast(text, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise TerminalError(
                f"column {column}: a numeric value does not fit {target} exactly ({str(exc).splitlines()[0]})",
                step="extract",
                fix=f'cast it in a query source, e.g. "{column}"::numeric(38, 12) or "{column}"::float8',
            ) from None

    return convert


# Postgres's earliest timestamp and date (4713 BC) since 1970. The ADBC driver turns 'infinity' and
# '-infinity' into values far below these (its epoch shift overflows), which no real row can hold.
# Kept as Python ints: a pa.scalar made at import would import pandas (pyarrow's shim) on every run.
_EARLIEST = {"timestamp": (-210_866_803_200_000_000, "int64"), "date": (-2_440_588, "int32")}


def _finite(column: str, kind: str) -> Callable[[pa.Array], pa.Array]:
    """Pass a timestamp/date column through, failing on the values the driver made of infinity."""
    value, storage = _EARLIEST[kind]
    earliest = pa.scalar(value, pa.type_for_alias(storage))

    def convert(array: pa.Array) -> pa.Array:
        import pyarrow.compute as pc  # imported by the first batch, not by opening the connector

        raw = array.view(earliest.type)
        if pc.any(pc.less(raw, earliest)).as_py():
            raise TerminalError(
                f"column {column} holds infinity or -infinity, which an Arrow {kind} cannot hold",
                step="extract",
                fix=f'map it in a query source, e.g. NULLIF("{column}", \'infinity\') AS "{column}"',
            )
        return array

    return convert


def _numeric_list(column: str, target: pa.DataType) -> Callable[[pa.Array], pa.Array]:
    inner = _to_decimal(column, target.value_type)

    def convert(array: pa.Array) -> pa.Array:
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        values = inner(array.values)
        return pa.ListArray.from_arrays(array.offsets, values, type=target, mask=array.is_null())

    return convert


def plan_columns(schema: pa.Schema, typmods: dict[str, int] | None = None) -> list[ColumnPlan]:
    """Declared type and converter for every column of an ADBC result schema.

    ``typmods`` (from the catalog of a table source) gives numeric precision for array elements,
    which the COPY description does not carry.
    """
    typmods = typmods or {}
    plans = []
    for field in schema:
        pg = _pg_type(field)
        meta = field.metadata or {}
        typmod = typmods.get(field.name, int(meta.get(b"POSTGRESQL:typmod", b"-1")))
        if pg in {"numeric", "_numeric"}:
            try:
                decimal = numeric_type(typmod)
            except ValueError:
                raise unsupported(field.name, "numeric with more than 76 digits") from None
            if pg == "numeric":
                plans.append(ColumnPlan(field.name, decimal, _to_decimal(field.name, decimal)))
            else:
                declared = pa.list_(decimal)
                plans.append(ColumnPlan(field.name, declared, _numeric_list(field.name, declared)))
            continue
        if pg in {"money", "oid", "xid", "xid8", "cid", "tid"} or _opaque(field.type) or _nested(field.type):
            raise unsupported(field.name, pg)
        if pa.types.is_timestamp(field.type) and field.type.unit == "us":
            plans.append(ColumnPlan(field.name, field.type, _finite(field.name, "timestamp")))
            continue
        if pa.types.is_date32(field.type):
            plans.append(ColumnPlan(field.name, field.type, _finite(field.name, "date")))
            continue
        plans.append(ColumnPlan(field.name, field.type, None))
    return plans


def _nested(arrow: pa.DataType) -> bool:
    """A composite (row) type, which ADBC reads as a struct and no sink column type holds."""
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return _nested(arrow.value_type)
    return pa.types.is_struct(arrow) or pa.types.is_map(arrow)


def _opaque(arrow: pa.DataType) -> bool:
    if isinstance(arrow, pa.BaseExtensionType) and arrow.extension_name == "arrow.opaque":
        return True
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return _opaque(arrow.value_type)
    return False


def conform(batch: pa.RecordBatch, plans: list[ColumnPlan], schema: pa.Schema) -> pa.RecordBatch:
    """Apply the column plans to one ADBC batch; the result has exactly ``schema``."""
    arrays = []
    for index, plan in enumerate(plans):
        array = batch.column(index)
        arrays.append(plan.convert(array) if plan.convert is not None else array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
