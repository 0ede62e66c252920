"""Feeding the gated Arrow stream to Postgres COPY: staged types, error capture, lock keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import pyarrow as pa

from dpone_core.checkpoints import checkpoint
from dpone_core.model import iter_batches


def lock_key(kind: str, name: str) -> int:
    """Signed 64-bit advisory lock key for ``kind`` and ``name`` (stable across processes and hosts).

    >>> lock_key("lease", "orders") == lock_key("lease", "orders")
    True
    """
    digest = hashlib.sha256(f"dpone:{kind}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def staging_arrow_type(arrow: pa.DataType) -> pa.DataType:
    """The Arrow type staged through COPY: types Postgres has no column for are widened first."""
    if pa.types.is_dictionary(arrow):
        return staging_arrow_type(arrow.value_type)
    if pa.types.is_null(arrow):
        return pa.string()
    if pa.types.is_int8(arrow):
        return pa.int16()
    if pa.types.is_unsigned_integer(arrow):
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64(), 64: pa.decimal128(20, 0)}[arrow.bit_width]
    if pa.types.is_float16(arrow):
        return pa.float32()
    if pa.types.is_fixed_size_binary(arrow) and not isinstance(arrow, pa.BaseExtensionType):
        return pa.binary()
    if pa.types.is_date64(arrow):
        return pa.date32()
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return pa.list_(staging_arrow_type(arrow.value_type))
    return arrow


class CopyGuard:
    """Feeds the gated stream to the driver and keeps the first Python exception it raised.

    The driver reads the stream through the Arrow C interface, which turns a Python exception
    (a contract violation, Ctrl-C) into a generic error; the sink re-raises the original.
    """

    def __init__(self, reader: pa.RecordBatchReader, columns: Sequence[str] | None = None) -> None:
        self.reader = reader
        self.error: BaseException | None = None
        self.columns = list(columns) if columns is not None else None
        fields = [reader.schema.field(c) for c in columns] if columns is not None else list(reader.schema)
        self.schema = pa.schema([pa.field(f.name, staging_arrow_type(f.type), f.nullable) for f in fields])

    def batches(self) -> Iterator[pa.RecordBatch]:
        first = True
        try:
            for read in iter_batches(self.reader):
                raw = read.select(self.columns) if self.columns is not None else read
                batch = raw
                if raw.schema != self.schema:
                    columns = zip(raw.columns, self.schema, strict=True)
                    batch = pa.RecordBatch.from_arrays(
                        [col.cast(f.type) if col.type != f.type else col for col, f in columns], schema=self.schema
                    )
                yield batch
                if first:
                    first = False
                    checkpoint("copy")
        except BaseException as exc:
            self.error = exc
            raise

    def as_reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self.batches())
