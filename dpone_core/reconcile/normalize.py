"""The normalisation and hash rules of :mod:`dpone_core.reconcile.dialects`, in Python.

Used for the sides that cannot hash in SQL (files, S3, query results streamed as Arrow, the
JSON-rows form) and to hash rows fetched as text. :func:`value_text` gives, for a Python value
of a column of a given :class:`ColumnType`, exactly the text the SQL rules give for the same
value in the database, so a file compares with a Postgres table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from dpone_core.reconcile.dialects import NULL_TEXT, SEPARATOR, TIMESTAMP_FORMAT
from dpone_core.reconcile.types import ColumnType

MASK = (1 << 64) - 1


def value_text(value: object, column: ColumnType) -> str:
    """The normalised text of one value (NULL: the marker)."""
    if value is None:
        return NULL_TEXT
    kind = column.kind
    if kind in ("decimal", "float"):
        return _decimal_text(value, column.fraction_digits())
    if kind == "int" and not isinstance(value, bool):
        return str(int(value))  # type: ignore[call-overload]
    if kind == "bool" or isinstance(value, bool):
        return "true" if value else "false"
    if kind in ("timestamp", "timestamptz") and isinstance(value, datetime):
        return timestamp_text(value)
    if kind == "date" and isinstance(value, date):
        return value.isoformat()[:10]
    if kind == "json":
        return _json_text(value)
    return value if isinstance(value, str) else str(value)


def timestamp_text(value: datetime) -> str:
    """UTC ISO form with microseconds; a naive timestamp is read as UTC (as dpone loads it)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(TIMESTAMP_FORMAT)


def _decimal_text(value: object, digits: int) -> str:
    """Fixed-point text at ``digits`` fractional digits, rounded half away from zero (as the engines cast)."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)  # type: ignore[arg-type]
        quantum = Decimal(1).scaleb(-digits)
        return format(number.quantize(quantum, rounding=ROUND_HALF_UP), "f")
    except (InvalidOperation, ValueError, TypeError):
        return str(value)


def _json_text(value: object) -> str:
    """An untyped (JSON) value: numbers by value (``100`` and ``100.0`` agree), objects with sorted keys."""
    if isinstance(value, int | float | Decimal):
        try:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            return str(value)
        if not number.is_finite():
            return str(number)
        text = format(number.normalize(), "f")
        return "0" if text in ("-0", "") else text
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    if isinstance(value, datetime):
        return timestamp_text(value)
    return str(value)


def row_hash(texts: Sequence[str]) -> int:
    """The unsigned 64-bit hash of a row's normalised texts (key columns first, then compared columns)."""
    digest = hashlib.md5(SEPARATOR.join(texts).encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big")


def checksum_text(count: int, total: int) -> str:
    """The report's form of a checksum: rows and the hash sum modulo 2**64, in hex."""
    return f"{count}:{total & MASK:016x}"
