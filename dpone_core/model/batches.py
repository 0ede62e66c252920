"""What a source is asked for, and how its Arrow batches are walked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pyarrow as pa

SEQ_COLUMN = "__dpone_seq"
"""Ordinal added to staged rows so duplicates can be resolved deterministically (first one wins)."""


@dataclass(frozen=True)
class Predicate:
    """A filter a source pushes down: ``column op value``."""

    column: str
    op: Literal[">", ">=", "<", "<=", "=="]
    value: Any


@dataclass(frozen=True)
class ReadRequest:
    """What the runtime asks a source for."""

    columns: tuple[str, ...] | None = None
    predicates: tuple[Predicate, ...] = ()
    batch_rows: int = 65_536
    batch_bytes: int = 1 << 20
    text_columns: frozenset[str] = frozenset()
    """Columns a text-format source (CSV) must hand over as strings so the contract types them per row."""


def iter_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """Iterate a reader batch by batch (typing helper)."""
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    """A batch of no rows in ``schema``.

    Built from typed empty arrays: ``Schema.empty_table()`` and ``RecordBatch.from_pylist`` import
    pandas where it is installed (half a second), which a load path must not pay.

    >>> import pyarrow as pa
    >>> empty_batch(pa.schema([("id", pa.int64())])).num_rows
    0
    """
    import pyarrow as pa  # the model is imported by paths that never touch Arrow (manifest validate)

    return pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)
