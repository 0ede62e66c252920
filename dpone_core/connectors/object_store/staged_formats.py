"""The file formats a load's rows are written in: Parquet (a table's data files) and Arrow IPC (scratch).

A Parquet table's data files are what its readers read, so they are Parquet with pyarrow's
defaults. The Delta sink's local staging is read back only by delta-rs and the load's key checks:
it is Arrow IPC (LZ4-compressed record batches), which pyarrow writes and reads without encoding. For
1M rows of the Delta case of ``benchmarks/s3.py`` that took the staging's CPU from about 0.38 s
(Parquet write 0.23 s + read 0.15 s) to 0.09 s, at the same size on disk (31 MB; zstd: 0.14 s and
12 MB; uncompressed: 0.04 s and 78 MB). A file's format is named by its key's suffix.

An IPC file holds one dictionary per column, where Parquet takes one per row group; the rows a
sink stages carry the target's types, which are never dictionaries (the evolution gate decodes
them), so that rule does not bind.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import ipc

ARROW_COMPRESSION = "lz4"
"""Codec of the Arrow IPC staging: as small on disk as the Parquet it replaced, a quarter of its CPU."""


class BatchWriter(Protocol):
    """An open file being written a record batch at a time."""

    def write_batch(self, batch: pa.RecordBatch) -> None:
        """Append ``batch``."""
        ...

    def close(self) -> None:
        """Finish the file (its footer)."""
        ...


class FileFormat(Protocol):
    """How files of one format are written and read back."""

    suffix: str
    """The key suffix that names the format (``.parquet``, ``.arrow``)."""
    dataset_format: str
    """The format's name for ``pyarrow.dataset.dataset``."""

    def writer(self, sink: Any, schema: pa.Schema) -> BatchWriter:
        """A writer of ``schema`` onto ``sink`` (a pyarrow output stream or a file-like object)."""
        ...

    def read(self, handle: pa.NativeFile, columns: Sequence[str] | None = None) -> pa.Table:
        """The whole file (only ``columns`` when given)."""
        ...

    def batches(
        self, handle: pa.NativeFile, columns: Sequence[str] | None, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """The file's rows in order, at most ``batch_rows`` a batch, holding one stored batch at a time."""
        ...


class ParquetFormat:
    """Parquet with pyarrow's defaults (a table's data files; DuckDB's scratch files)."""

    suffix = ".parquet"
    dataset_format = "parquet"

    def writer(self, sink: Any, schema: pa.Schema) -> BatchWriter:
        """A ``pq.ParquetWriter`` (one row group per written batch)."""
        return pq.ParquetWriter(sink, schema)

    def read(self, handle: pa.NativeFile, columns: Sequence[str] | None = None) -> pa.Table:
        """``pq.read_table`` of the file."""
        return pq.read_table(handle, columns=list(columns) if columns is not None else None)

    def batches(
        self, handle: pa.NativeFile, columns: Sequence[str] | None, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """One row group at a time."""
        read = list(columns) if columns is not None else None
        yield from pq.ParquetFile(handle).iter_batches(batch_size=batch_rows, columns=read)


class ArrowFormat:
    """Arrow IPC files of LZ4-compressed record batches (the Delta sink's local staging)."""

    suffix = ".arrow"
    dataset_format = "ipc"

    def writer(self, sink: Any, schema: pa.Schema) -> BatchWriter:
        """An IPC file writer; each written batch is one stored batch."""
        return ipc.new_file(sink, schema, options=ipc.IpcWriteOptions(compression=ARROW_COMPRESSION))

    def read(self, handle: pa.NativeFile, columns: Sequence[str] | None = None) -> pa.Table:
        """Every stored batch (only the buffers of ``columns`` are read and decompressed)."""
        table = self._open(handle, columns).read_all()
        return table if columns is None else table.select(list(columns))

    def batches(
        self, handle: pa.NativeFile, columns: Sequence[str] | None, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """One stored batch at a time, sliced to ``batch_rows``."""
        reader = self._open(handle, columns)
        for number in range(reader.num_record_batches):
            batch = reader.get_batch(number)
            if columns is not None:
                batch = batch.select(list(columns))
            for start in range(0, batch.num_rows, batch_rows):
                yield batch.slice(start, batch_rows)

    @staticmethod
    def _open(handle: pa.NativeFile, columns: Sequence[str] | None) -> ipc.RecordBatchFileReader:
        """The file's reader; with ``columns``, one that reads only theirs (in the file's order)."""
        reader = ipc.open_file(handle)
        if columns is None:
            return reader
        wanted = sorted(reader.schema.get_field_index(name) for name in columns)
        return ipc.open_file(handle, options=ipc.IpcReadOptions(included_fields=wanted))


PARQUET = ParquetFormat()
ARROW = ArrowFormat()
_FORMATS: tuple[FileFormat, ...] = (PARQUET, ARROW)


def format_of(key: str) -> FileFormat:
    """The format a file's key names by its suffix (Parquet when none matches)."""
    return next((f for f in _FORMATS if key.endswith(f.suffix)), PARQUET)
