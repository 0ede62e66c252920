"""ClickHouse types <-> Arrow types: the catalog read (type string -> Arrow) and the DDL (Arrow -> type).

ClickHouse spells a column's type as one string (``Nullable(DateTime64(6, 'UTC'))``,
``Map(String, Array(Nullable(Int64)))``); :func:`parse` turns it into a small tree, and the two
tables below map it each way. Time zones, decimal precision and scale, and nullability are kept;
a type Arrow cannot carry names its column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from dpone_core.errors import TerminalError

INTS = {
    "Int8": pa.int8(), "Int16": pa.int16(), "Int32": pa.int32(), "Int64": pa.int64(),
    "UInt8": pa.uint8(), "UInt16": pa.uint16(), "UInt32": pa.uint32(), "UInt64": pa.uint64(),
    "Float32": pa.float32(), "Float64": pa.float64(), "Bool": pa.bool_(),
}  # fmt: skip
"""Scalar ClickHouse types with one Arrow twin."""

TEXT = {"String", "FixedString", "IPv4", "IPv6", "Enum8", "Enum16", "JSON", "Object"}
"""Types read as Arrow strings (the server's Arrow output sends them as text)."""

DECIMAL_BITS = {"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}
"""Fixed-precision decimal aliases: their precision (the argument is the scale)."""


@dataclass(frozen=True)
class ChType:
    """One parsed type: its name and its arguments (types, or literal text for numbers and zones)."""

    name: str
    args: tuple[ChType | str, ...] = ()
    field: str | None = None
    """Element name inside a named Tuple."""


def parse(text: str) -> ChType:
    """Parse a ClickHouse type string.

    >>> parse("Nullable(DateTime64(6, 'UTC'))")
    ChType(name='Nullable', args=(ChType(name='DateTime64', args=('6', 'UTC'), field=None),), field=None)
    """
    parsed, rest = _parse(text.strip())
    if rest.strip():
        raise ValueError(f"unexpected text after a type: {rest!r}")
    return parsed


_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")


def _parse(text: str) -> tuple[ChType, str]:
    match = _NAME.match(text)
    if match is None:
        raise ValueError(f"not a type: {text!r}")
    name, rest = match.group(1), text[match.end() :].lstrip()
    field = None
    # A named tuple element: "name Type".
    follow = _NAME.match(rest)
    if follow is not None and not rest.startswith("(") and rest[: follow.end()].strip()[0:1].isalpha():
        field, (name, rest) = name, (follow.group(1), rest[follow.end() :].lstrip())
    if not rest.startswith("("):
        return ChType(name, (), field), rest
    args: list[ChType | str] = []
    rest = rest[1:]
    while True:
        rest = rest.lstrip()
        if rest.startswith(")"):
            return ChType(name, tuple(args), field), rest[1:]
        if rest[:1] == "'":
            end = rest.index("'", 1)
            args.append(rest[1:end])
            rest = rest[end + 1 :]
        elif rest[:1].isdigit() or rest[:1] == "-":
            number = re.match(r"-?[0-9]+", rest)
            assert number is not None
            args.append(number.group(0))
            rest = rest[number.end() :]
        else:
            element, rest = _parse(rest)
            args.append(element)
        # Enum members ("'a' = 1") are kept only as text: they are read as strings.
        rest = re.sub(r"^\s*=\s*-?[0-9]+", "", rest).lstrip()
        if rest.startswith(","):
            rest = rest[1:]


def arrow_type(ch_type: str, column: str) -> tuple[pa.DataType, bool]:
    """The Arrow type and nullability of a column of ClickHouse type ``ch_type``."""
    try:
        parsed = parse(ch_type)
        nullable = parsed.name == "Nullable" or _inner_nullable(parsed)
        return _to_arrow(_strip(parsed)), nullable
    except (ValueError, TypeError, IndexError) as exc:
        raise TerminalError(
            f"column {column} has ClickHouse type {ch_type}, which dpone cannot read as Arrow ({exc})",
            step="extract",
            fix=f"cast {column} in a source query (for example toString({column}))",
        ) from None


def _inner_nullable(parsed: ChType) -> bool:
    return parsed.name == "LowCardinality" and isinstance(parsed.args[0], ChType) and parsed.args[0].name == "Nullable"


def _strip(parsed: ChType) -> ChType:
    """Drop the wrappers that change storage, not values (Nullable, LowCardinality, SimpleAggregateFunction)."""
    while parsed.name in ("Nullable", "LowCardinality", "SimpleAggregateFunction"):
        inner = parsed.args[-1]
        assert isinstance(inner, ChType)
        parsed = inner
    return parsed


def _to_arrow(parsed: ChType) -> pa.DataType:
    name, args = parsed.name, parsed.args
    if name in INTS:
        return INTS[name]
    if name in TEXT:
        return pa.string()
    if name == "UUID":
        return pa.uuid()
    if name in ("Int128", "UInt128"):
        return pa.decimal256(39, 0)  # 2**127 has 39 digits: one more than decimal128 holds
    if name in ("Int256", "UInt256"):
        raise TypeError(f"{name} has up to 78 digits, more than an Arrow decimal holds")
    if name == "Decimal":
        precision, scale = int(str(args[0])), int(str(args[1])) if len(args) > 1 else 0
        return _decimal(precision, scale)
    if name in DECIMAL_BITS:
        return _decimal(DECIMAL_BITS[name], int(str(args[0])))
    if name in ("Date", "Date32"):
        return pa.date32()
    if name == "DateTime":
        return pa.timestamp("s", tz=str(args[0]) if args else None)
    if name == "DateTime64":
        precision = int(str(args[0]))
        unit = "s" if precision == 0 else "ms" if precision <= 3 else "us" if precision <= 6 else "ns"
        return pa.timestamp(unit, tz=str(args[1]) if len(args) > 1 else None)
    if name == "Array":
        element = _child(args[0])
        return pa.list_(pa.field("item", _to_arrow(_strip(element)), _nullable(element)))
    if name == "Map":
        key, value = _child(args[0]), _child(args[1])
        return pa.map_(_to_arrow(_strip(key)), pa.field("value", _to_arrow(_strip(value)), _nullable(value)))
    if name == "Tuple":
        elements = [_child(a) for a in args]
        return pa.struct(
            [pa.field(e.field or str(i + 1), _to_arrow(_strip(e)), _nullable(e)) for i, e in enumerate(elements)]
        )
    raise TypeError(f"{name} has no Arrow counterpart")


def _child(arg: ChType | str) -> ChType:
    if not isinstance(arg, ChType):
        raise TypeError(f"expected a type, got {arg!r}")
    return arg


def _nullable(parsed: ChType) -> bool:
    return parsed.name == "Nullable" or _inner_nullable(parsed)


def _decimal(precision: int, scale: int) -> pa.DataType:
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)


def quote_text(text: str) -> str:
    """A ClickHouse string literal (backslash and quote escaped), for type arguments such as a time zone."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def clickhouse_type(arrow: pa.DataType, nullable: bool, column: str) -> str:
    """The ClickHouse type of a column: ``Nullable`` only where ``nullable`` (and ClickHouse allows it)."""
    try:
        base = _from_arrow(arrow)
    except TypeError as exc:
        raise TerminalError(
            f"column {column} has type {arrow}, which ClickHouse cannot store ({exc})",
            step="schema",
            fix=f"cast {column} in the source query, or declare its type in the contract",
        ) from None
    if not nullable or base.startswith(("Array(", "Map(", "Tuple(")):
        return base  # composite types cannot be Nullable: a null array is stored as an empty one
    if base.startswith("LowCardinality("):
        return f"LowCardinality(Nullable({base[len('LowCardinality(') : -1]}))"
    return f"Nullable({base})"


SCALARS: tuple[tuple[pa.DataType, str], ...] = (
    (pa.bool_(), "Bool"),
    (pa.int8(), "Int8"), (pa.int16(), "Int16"), (pa.int32(), "Int32"), (pa.int64(), "Int64"),
    (pa.uint8(), "UInt8"), (pa.uint16(), "UInt16"), (pa.uint32(), "UInt32"), (pa.uint64(), "UInt64"),
    (pa.float16(), "Float32"), (pa.float32(), "Float32"), (pa.float64(), "Float64"),
    (pa.string(), "String"), (pa.large_string(), "String"), (pa.string_view(), "String"),
    (pa.binary(), "String"), (pa.large_binary(), "String"),
    (pa.date32(), "Date32"), (pa.date64(), "Date32"),
)  # fmt: skip
"""Arrow types with one ClickHouse twin."""

PRECISION = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def _from_arrow(arrow: pa.DataType) -> str:
    for twin, name in SCALARS:
        if arrow == twin:
            return name
    if isinstance(arrow, pa.BaseExtensionType):
        if arrow.extension_name == "arrow.uuid":
            return "UUID"
        return _from_arrow(arrow.storage_type)
    if pa.types.is_decimal(arrow):
        return f"Decimal({arrow.precision}, {arrow.scale})"
    if pa.types.is_timestamp(arrow):
        precision = PRECISION[arrow.unit]
        return f"DateTime64({precision}, {quote_text(arrow.tz)})" if arrow.tz else f"DateTime64({precision})"
    if pa.types.is_duration(arrow):
        return "Int64"
    if pa.types.is_dictionary(arrow):
        inner = _from_arrow(arrow.value_type)
        return f"LowCardinality({inner})" if inner == "String" else inner
    if pa.types.is_fixed_size_binary(arrow):
        return f"FixedString({arrow.byte_width})"
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow) or pa.types.is_fixed_size_list(arrow):
        item = arrow.value_field
        return f"Array({clickhouse_type(item.type, item.nullable, item.name)})"
    if pa.types.is_map(arrow):
        item = arrow.item_field
        return f"Map({_from_arrow(arrow.key_type)}, {clickhouse_type(item.type, item.nullable, item.name)})"
    if pa.types.is_struct(arrow):
        fields = [arrow.field(i) for i in range(arrow.num_fields)]
        parts = [f"{_name(f.name)} {clickhouse_type(f.type, f.nullable, f.name)}" for f in fields]
        return f"Tuple({', '.join(parts)})"
    raise TypeError("no ClickHouse type")


def _name(identifier: str) -> str:
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"
