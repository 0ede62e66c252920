"""Sides hashed in Python: rows streamed as Arrow batches (files, S3, query results) and in-memory rows.

Both compute exactly the texts and hashes the SQL rules compute (:mod:`normalize`). A segment
query streams the key range once and keeps one accumulator per segment, so memory is bounded by
the segment count and a batch; only differing segments are read again, with key-range
predicates (which a file source can use to skip row groups). Fetching a range's rows sorts that
range in memory: small for the leaf segments a descent fetches, the whole side for ``mode=full``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from dpone_core.errors import ConfigurationError
from dpone_core.reconcile.normalize import MASK, row_hash, value_text
from dpone_core.reconcile.sides import Compared, FetchedRow, SegmentStat
from dpone_core.reconcile.types import ColumnType, arrow_type

BatchReader = Callable[[Sequence[str], int | None, int | None], Iterable[pa.RecordBatch]]
"""Reads the named columns of the rows whose first key column is in ``[low, high)`` (None: unbounded)."""


def order_key(values: Sequence[Any]) -> tuple[Any, ...]:
    """A key both sides sort the same way (naive timestamps as UTC, NULLs first, mixed types by type name)."""
    out: list[Any] = []
    for raw in values:
        value = raw.replace(tzinfo=UTC) if isinstance(raw, datetime) and raw.tzinfo is None else raw
        out.append((value is not None, type(value).__name__ if not isinstance(value, int | float) else "", value))
    return tuple(out)


class _PythonSide(ABC):
    """The shared Python hashing of rows given as dicts; a subclass says where the rows come from."""

    name: str

    @abstractmethod
    def _rows(self, columns: Sequence[str], low: int | None, high: int | None) -> Iterator[dict[str, Any]]:
        """The named columns of the rows whose first key column is in ``[low, high)``."""

    @abstractmethod
    def column_types(self) -> dict[str, ColumnType]:
        """Every column's type, by name."""

    def _needed(self, spec: Compared) -> list[str]:
        return list(dict.fromkeys([*spec.key, *spec.columns, *([spec.delete_column] if spec.delete_column else [])]))

    def key_bounds(self, key: str, spec: Compared) -> tuple[int, int] | None:
        """One pass over the key column."""
        low = high = None
        for row in self._rows([key], None, None):
            value = row.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                return None
            low = value if low is None or value < low else low
            high = value if high is None or value > high else high
        return None if low is None or high is None else (low, high)

    def _fetched(self, spec: Compared, row: Mapping[str, Any]) -> FetchedRow:
        key_texts = tuple(value_text(row.get(k), spec.types[k]) for k in spec.key)
        texts = tuple(value_text(row.get(c), spec.types[c]) for c in spec.columns)
        deleted = bool(row.get(spec.delete_column)) if spec.delete_column else False
        return FetchedRow(tuple(row.get(k) for k in spec.key), key_texts, texts, deleted)

    def segment_stats(self, spec: Compared, low: int, high: int, width: int) -> dict[int, SegmentStat]:
        """One pass over the range; one (count, sum, deleted) accumulator per segment."""
        acc: dict[int, list[int]] = {}
        first = spec.key[0]
        for row in self._rows(self._needed(spec), low, high):
            value = row.get(first)
            if value is None or not low <= value < high:
                continue
            slot = acc.setdefault((value - low) // width, [0, 0, 0])
            fetched = self._fetched(spec, row)
            if fetched.deleted:
                slot[2] += 1
                continue
            slot[0] += 1
            slot[1] = (slot[1] + row_hash(fetched.key_texts + fetched.texts)) & MASK
        return {b: SegmentStat(n, total, deleted) for b, (n, total, deleted) in acc.items()}

    def fetch_rows(self, spec: Compared, low: int | None, high: int | None) -> Iterator[FetchedRow]:
        """The range's rows, sorted by key in memory."""
        first = spec.key[0]
        rows = [
            self._fetched(spec, row)
            for row in self._rows(self._needed(spec), low, high)
            if (low is None or (row.get(first) is not None and row[first] >= low))
            and (high is None or (row.get(first) is not None and row[first] < high))
        ]
        rows.sort(key=lambda r: order_key(r.key))
        yield from rows


class ArrowSide(_PythonSide):
    """A stream of Arrow batches (a connector's ``read``), hashed in Python."""

    def __init__(self, read: BatchReader, schema: pa.Schema, name: str) -> None:
        self.read, self.schema, self.name = read, schema, name
        self.reads = 0

    def column_types(self) -> dict[str, ColumnType]:
        """From the Arrow schema."""
        return {f.name: arrow_type(f.type) for f in self.schema}

    def _rows(self, columns: Sequence[str], low: int | None, high: int | None) -> Iterator[dict[str, Any]]:
        self.reads += 1
        for batch in self.read(columns, low, high):
            yield from batch.to_pylist()


class RowsSide(_PythonSide):
    """Rows given as JSON objects (the JSON-rows form); values are untyped, so numbers compare by value."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], name: str) -> None:
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise ConfigurationError(
                    f"{name} rows: item {index} is not a JSON object", step="reconcile", fix="give a list of objects"
                )
        self.rows, self.name = list(rows), name

    def column_types(self) -> dict[str, ColumnType]:
        """Every column any row has, as ``json`` (integer when every value is an integer, for key ranges)."""
        names = dict.fromkeys(name for row in self.rows for name in row)
        types = {}
        for name in names:
            values = [row.get(name) for row in self.rows if row.get(name) is not None]
            ints = values and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
            types[name] = ColumnType("int" if ints else "json")
        return types

    def _rows(self, columns: Sequence[str], low: int | None, high: int | None) -> Iterator[dict[str, Any]]:
        yield from (dict(row) for row in self.rows)
