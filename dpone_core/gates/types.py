"""Type vocabulary and conversions shared by the contract, evolution and compatibility gates.

Conversions are vectorised: a whole column is cast with ``pyarrow.compute``; when the cast refuses
some values, the refusing rows are found by bisection (cast halves until single rows remain), so
a batch with k bad rows costs O(k log n) vectorised casts and no per-row Python on clean data.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.manifest.contract import ColumnRule

_OFFSET_SUFFIX = r"(Z|[+-]\d{2}(:?\d{2})?)$"


class NoConversion(TypeError):
    """Arrow has no cast between the two types at all (e.g. boolean -> date)."""


def contract_arrow_type(rule: ColumnRule) -> pa.DataType | None:
    """Arrow type a contract column converts to, or None when the rule sets no type.

    >>> contract_arrow_type(ColumnRule(type="decimal", precision=18, scale=2))
    Decimal128Type(decimal128(18, 2))
    """
    kind = rule.type
    if kind is None:
        return None
    simple: dict[str, pa.DataType] = {
        "string": pa.string(),
        "int8": pa.int8(),
        "int16": pa.int16(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "integer": pa.int64(),
        "float32": pa.float32(),
        "float64": pa.float64(),
        "float": pa.float64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "binary": pa.binary(),
        "json": pa.string(),
    }
    if kind in simple:
        return simple[kind]
    if kind == "decimal":
        return pa.decimal128(rule.precision or 38, rule.scale or 0)
    if kind == "timestamp":
        return pa.timestamp("us", tz=rule.tz)
    raise ValueError(f"unknown contract type {kind}")


def _bad_rows(array: pa.Array, target: pa.DataType) -> np.ndarray:
    """Indices of rows whose cast to ``target`` fails (bisection over vectorised casts)."""
    bad: list[int] = []
    stack = [(0, len(array))]
    while stack:
        lo, hi = stack.pop()
        try:
            pc.cast(array.slice(lo, hi - lo), target)
        except pa.ArrowNotImplementedError:
            raise
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            if hi - lo == 1:
                bad.append(lo)
            else:
                mid = (lo + hi) // 2
                stack.extend(((mid, hi), (lo, mid)))
    return np.array(sorted(bad), dtype=np.int64)


def _cast_plain(array: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    if pa.types.is_integer(array.type) and pa.types.is_decimal(target) and target.precision < 38:
        # Arrow checks int -> decimal at the type level (int64 needs 19 digits); go through
        # decimal(38, s) so the check is per value instead.
        array = pc.cast(array, pa.decimal128(38, target.scale))
    try:
        return pc.cast(array, target), np.zeros(len(array), dtype=bool)
    except pa.ArrowNotImplementedError as exc:
        raise NoConversion(f"no conversion from {array.type} to {target}") from exc
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    failed = np.zeros(len(array), dtype=bool)
    failed[_bad_rows(array, target)] = True
    cleaned = pc.if_else(pa.array(failed), pa.nulls(len(array), array.type), array)
    return pc.cast(cleaned, target), failed


def _string_to_zoned_timestamp(array: pa.Array, target: pa.TimestampType) -> tuple[pa.Array, np.ndarray]:
    """Strings with an offset are read as instants; naive strings are read in the target's zone."""
    has_offset = pc.fill_null(pc.match_substring_regex(array, _OFFSET_SUFFIX), False)
    with_offset = pc.if_else(has_offset, array, pa.nulls(len(array), pa.string()))
    naive = pc.if_else(has_offset, pa.nulls(len(array), pa.string()), array)
    zoned, failed_a = _cast_plain(with_offset, target)
    local, failed_b = _cast_plain(naive, pa.timestamp(target.unit))
    local = pc.assume_timezone(local, target.tz, ambiguous="earliest", nonexistent="earliest")
    merged = pc.if_else(has_offset, zoned, pc.cast(local, target))
    return merged, failed_a | failed_b


def cast_with_failures(array: pa.Array | pa.ChunkedArray, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Cast ``array`` to ``target``; return the result (failed rows null) and a boolean mask of failures.

    Strings are stripped of surrounding whitespace first. Naive timestamps cast to a zoned type are
    read in that zone (not UTC), so ``tz: Europe/Berlin`` means what it says.

    >>> values, failed = cast_with_failures(pa.array(["1", "x", None]), pa.int64())
    >>> values.to_pylist(), failed.tolist()
    ([1, None, None], [False, True, False])
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type == target:
        return array, np.zeros(len(array), dtype=bool)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        array = pc.utf8_trim_whitespace(array)
        if pa.types.is_boolean(target):
            return _string_to_bool(array)
        if pa.types.is_time(target):
            # Arrow has no text -> time cast; read "HH:MM[:SS[.ffffff]]" as a time of 1970-01-01.
            stamped, failed = _cast_plain(pc.binary_join_element_wise("1970-01-01T", array, ""), pa.timestamp("us"))
            return pc.cast(stamped, target), failed
        if pa.types.is_timestamp(target):
            # A bare date is midnight (Arrow's timestamp parser wants a time part).
            is_date = pc.fill_null(pc.match_substring_regex(array, r"^\d{4}-\d{2}-\d{2}$"), False)
            array = pc.if_else(is_date, pc.binary_join_element_wise(array, "T00:00:00", ""), array)
        if pa.types.is_timestamp(target) and target.tz:
            return _string_to_zoned_timestamp(array, target)
    if pa.types.is_timestamp(array.type) and pa.types.is_timestamp(target) and array.type.tz is None and target.tz:
        local = pc.assume_timezone(array, target.tz, ambiguous="earliest", nonexistent="earliest")
        return _cast_plain(local, target)
    return _cast_plain(array, target)


@functools.cache
def _bool_words() -> tuple[pa.Array, pa.Array]:
    # Built on first use, not at import: pa.array() imports pandas (~0.3 s) when it is installed.
    return pa.array(["true", "t", "yes", "y", "1"]), pa.array(["false", "f", "no", "n", "0"])


def _string_to_bool(array: pa.Array) -> tuple[pa.Array, np.ndarray]:
    lowered = pc.utf8_lower(array)
    words_true, words_false = _bool_words()
    is_true = pc.is_in(lowered, value_set=words_true)
    is_false = pc.is_in(lowered, value_set=words_false)
    recognised = pc.or_(is_true, is_false)
    failed = pc.and_(pc.is_valid(array), pc.invert(recognised))
    result = pc.if_else(recognised, is_true, pa.nulls(len(array), pa.bool_()))
    return result, np.asarray(failed.to_numpy(zero_copy_only=False), dtype=bool)


_INT_ORDER = [pa.int8(), pa.int16(), pa.int32(), pa.int64()]


def _int_digits(t: pa.DataType) -> int:
    return {8: 3, 16: 5, 32: 10, 64: 19}[t.bit_width]


def widens(source: pa.DataType, target: pa.DataType) -> bool:
    """True when every ``source`` value fits ``target`` without loss (``target`` is at least as wide).

    >>> widens(pa.int32(), pa.int64()), widens(pa.int64(), pa.int32())
    (True, False)
    """
    if source == target:
        return True
    if pa.types.is_signed_integer(source) and pa.types.is_signed_integer(target):
        return source.bit_width <= target.bit_width
    if pa.types.is_integer(source) and pa.types.is_floating(target):
        return source.bit_width < (53 if target.bit_width == 64 else 24)
    if pa.types.is_floating(source) and pa.types.is_floating(target):
        return source.bit_width <= target.bit_width
    if pa.types.is_integer(source) and pa.types.is_decimal(target):
        return target.precision - target.scale >= _int_digits(source)
    if pa.types.is_decimal(source) and pa.types.is_decimal(target):
        return target.scale >= source.scale and (target.precision - target.scale) >= (source.precision - source.scale)
    if pa.types.is_date(source) and pa.types.is_timestamp(target):
        return True
    if pa.types.is_timestamp(source) and pa.types.is_timestamp(target):
        same_zone = (source.tz is None) == (target.tz is None)
        units = ["s", "ms", "us", "ns"]
        return same_zone and units.index(source.unit) <= units.index(target.unit)
    return pa.types.is_string(source) and pa.types.is_large_string(target)


def same_logical_type(a: pa.DataType, b: pa.DataType) -> bool:
    """Types a SQL engine stores identically (string vs large_string, timestamp units ≤ us)."""
    if a == b:
        return True
    if (pa.types.is_string(a) or pa.types.is_large_string(a)) and (
        pa.types.is_string(b) or pa.types.is_large_string(b)
    ):
        return True
    if pa.types.is_binary(a) and pa.types.is_binary(b):
        return True
    # uuid/json columns: some catalogs (DuckDB's Arrow export) describe them as plain strings.
    return (_text_like_extension(a) and pa.types.is_string(b)) or (_text_like_extension(b) and pa.types.is_string(a))


def _text_like_extension(t: pa.DataType) -> bool:
    return isinstance(t, pa.BaseExtensionType) and t.extension_name in {"arrow.uuid", "arrow.json"}
