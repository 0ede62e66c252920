"""Incremental cursors: typed encoding for ``__dpone__state`` and the lower bound of the next read."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.errors import TerminalError
from dpone_core.manifest.process import Incremental, parse_duration_seconds


def encode_cursor(value: Any) -> str | None:
    """Encode a cursor value with its kind so it round-trips exactly.

    >>> encode_cursor(datetime(2024, 1, 2, 3, 4, 5))
    '{"kind": "timestamp", "value": "2024-01-02T03:04:05"}'
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        kind, text = "timestamp", value.isoformat()
    elif isinstance(value, date):
        kind, text = "date", value.isoformat()
    elif isinstance(value, bool):
        raise TypeError("a boolean column cannot be a cursor")
    elif isinstance(value, int):
        kind, text = "int", str(value)
    elif isinstance(value, Decimal):
        kind, text = "decimal", str(value)
    elif isinstance(value, float):
        kind, text = "float", repr(value)
    else:
        kind, text = "string", str(value)
    return json.dumps({"kind": kind, "value": text})


def decode_cursor(encoded: str | None) -> Any:
    """Inverse of :func:`encode_cursor`."""
    if encoded is None:
        return None
    data = json.loads(encoded)
    kind, text = data["kind"], data["value"]
    if kind == "timestamp":
        return datetime.fromisoformat(text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "int":
        return int(text)
    if kind == "decimal":
        return Decimal(text)
    if kind == "float":
        return float(text)
    return text


def lower_bound(cursor: Any, incremental: Incremental) -> Any:
    """Where the next read starts: the committed cursor minus the lookback (or ``initial``)."""
    if cursor is None:
        return incremental.initial
    lookback = incremental.lookback
    if not lookback:
        return cursor
    if isinstance(cursor, datetime | date):
        seconds = parse_duration_seconds(lookback) if isinstance(lookback, str) else float(lookback)
        return cursor - timedelta(seconds=seconds)
    if isinstance(cursor, int | float | Decimal):
        if isinstance(lookback, str):
            raise ValueError("a numeric cursor needs a numeric lookback")
        if isinstance(cursor, Decimal):
            return cursor - Decimal(str(lookback))
        return cursor - lookback
    raise ValueError(f"lookback does not apply to a {type(cursor).__name__} cursor")


class CursorTracker:
    """Keeps the running maximum of the cursor column over batches, vectorised per batch."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.maximum: pa.Scalar | None = None

    def observe(self, batch: pa.RecordBatch) -> None:
        """Fold one batch's maximum into the running maximum."""
        if self.column not in batch.schema.names or batch.num_rows == 0:
            return
        batch_max = pc.max(batch.column(self.column))
        if not batch_max.is_valid:
            return
        if self.maximum is None or pc.greater(batch_max, self.maximum).as_py():
            self.maximum = batch_max

    def value(self) -> Any:
        """The maximum as a Python value (None when no row had a cursor)."""
        return None if self.maximum is None else self.maximum.as_py()


def next_state(
    before: dict[str, Any] | None,
    tracker: CursorTracker | None,
    run_id: str,
    load_id: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The state row a committing load writes: the cursor only ever moves forward.

    ``extra`` (source-held state such as the Postgres xmin horizon) is merged over the committed
    ``extra``, so keys this run did not produce are kept.
    """
    cursor_value = before.get("cursor_value") if before else None
    if tracker is not None and tracker.value() is not None:
        new = tracker.value()
        old = decode_cursor(cursor_value)
        if old is None or _later(new, old):
            cursor_value = encode_cursor(new)
    state: dict[str, Any] = {
        "cursor_column": tracker.column if tracker else (before or {}).get("cursor_column"),
        "cursor_value": cursor_value,
        "run_id": run_id,
        "load_id": load_id,
    }
    merged = {**((before or {}).get("extra") or {}), **(extra or {})}
    if merged:
        state["extra"] = merged
    return state


def _later(new: Any, old: Any) -> bool:
    try:
        return bool(new > old)
    except TypeError:
        raise TerminalError(
            f"the cursor changed kind ({type(old).__name__} {old!r} in state, {type(new).__name__} now)",
            step="finalize",
            fix="declare the cursor column's type in schema_contract, or reset the state row of this process",
        ) from None
