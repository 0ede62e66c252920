"""Writing a load's data files, and the per-load key checks run over them before the commit.

Files are written once under ``<table>/data/load=<load_id>/`` and never changed: the commit names
the ones that are live. The sequence column the runtime adds to staged rows is not written; a
row's sequence is its position in the load (files in write order, rows in file order), which is
all the key checks need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from dpone_core.connectors.object_store.staged_formats import PARQUET, BatchWriter, FileFormat, format_of
from dpone_core.connectors.object_store.store import TableStore
from dpone_core.connectors.object_store.table_log import DataFile
from dpone_core.model import SEQ_COLUMN, iter_batches
from dpone_core.strategies.plan import PartitionSpec

ROWS_PER_FILE = 1_000_000
READ_BATCH_ROWS = 16_384
"""Rows per batch of :func:`in_file_order`.

delta-rs holds up to 10 batches in its channel and a cast copy of each, and its allocator keeps
freed buffers for seconds: with batches of 65,536 rows a 5M-row Delta write (the Delta case of
``benchmarks/s3.py``) peaked near 600 MB, with 16,384 near 510 MB, as fast.
"""


@dataclass
class StagedFiles:
    """The data files one load wrote, in write order."""

    load_id: str
    schema: pa.Schema
    """The data columns the files were written with."""
    files: list[DataFile] = field(default_factory=list)
    committed: bool = False


class _Hashing:
    """A file-like object that hashes and counts what passes through to a store's output stream."""

    def __init__(self, out: pa.NativeFile) -> None:
        self.out, self.digest, self.size, self.closed = out, hashlib.sha256(), 0, False

    def write(self, data: bytes | memoryview) -> int:
        self.digest.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.out.close()


class FileWriter:
    """Writes a load's rows as files of ``file_format``, one set per partition slice, ``ROWS_PER_FILE`` each."""

    def __init__(
        self,
        store: TableStore,
        folder: str,
        schema: pa.Schema,
        partition: PartitionSpec | None,
        file_format: FileFormat = PARQUET,
    ) -> None:
        self.store, self.folder, self.partition, self.format = store, folder, partition, file_format
        self.schema = pa.schema([f for f in schema if f.name != SEQ_COLUMN])
        self.staged = StagedFiles(folder.rstrip("/").rsplit("load=", 1)[-1], self.schema)
        self._open: dict[str | None, tuple[BatchWriter, _Hashing, str, int]] = {}
        self._count = 0

    def write(self, reader: pa.RecordBatchReader) -> StagedFiles:
        """Write every batch of ``reader``; the files are closed (and durable) when this returns."""
        try:
            for batch in iter_batches(reader):
                data = batch.drop_columns([SEQ_COLUMN]) if SEQ_COLUMN in batch.schema.names else batch
                for slice_key, rows in self._slices(data):
                    self._append(slice_key, rows)
        finally:
            for slice_key in list(self._open):
                self._close(slice_key)
        self.store.sync([f.key for f in self.staged.files])
        return self.staged

    def _slices(self, batch: pa.RecordBatch) -> Iterator[tuple[str | None, pa.RecordBatch]]:
        if self.partition is None or batch.num_rows == 0:
            yield None, batch
            return
        keys = partition_keys(batch.column(self.partition.column), self.partition.grain)
        for value in pc.unique(keys).to_pylist():
            mask = pc.is_null(keys) if value is None else pc.equal(keys, value)
            yield value, batch.filter(pc.fill_null(mask, False))

    def _append(self, slice_key: str | None, rows: pa.RecordBatch) -> None:
        current = self._open.get(slice_key)
        if current is not None and current[3] >= ROWS_PER_FILE:
            self._close(slice_key)
            current = None
        if current is None:
            key = f"{self.folder}part-{self._count:05d}{self.format.suffix}"
            self._count += 1
            sink = _Hashing(self.store.open_output(key))
            current = (self.format.writer(sink, self.schema), sink, key, 0)
        writer, sink, key, written = current
        writer.write_batch(rows.cast(self.schema) if not rows.schema.equals(self.schema) else rows)
        self._open[slice_key] = (writer, sink, key, written + rows.num_rows)

    def _close(self, slice_key: str | None) -> None:
        writer, sink, key, rows = self._open.pop(slice_key)
        writer.close()
        sink.close()
        self.staged.files.append(DataFile(key, rows, sink.size, sink.digest.hexdigest(), slice_key))


def partition_keys(column: pa.Array | pa.ChunkedArray, grain: str | None) -> pa.Array:
    """Each row's ``partition_replace`` slice as text: the value, or its start at ``grain``."""
    if grain is not None:
        column = pc.floor_temporal(column, unit=grain)
    return pc.cast(column, pa.string())


def in_file_order(
    dataset: ds.FileSystemDataset, columns: Sequence[str] | None = None, keep: ds.Expression | None = None
) -> pa.RecordBatchReader:
    """``dataset``'s rows (only ``columns``; only those ``keep`` matches) as one stream, file by file.

    It reads one row group (one stored batch of an Arrow file) at a time, so what it holds does not
    grow with the load. A dataset
    scanner reads ahead (4 files of 16 batches by default) whenever its consumer is slower, as
    delta-rs encoding and uploading is: a Delta write of 5M staged rows held most of them at once.
    """
    names = list(columns) if columns is not None else dataset.schema.names
    schema = pa.schema([dataset.schema.field(name) for name in names])

    def batches() -> Iterator[pa.RecordBatch]:
        for path in dataset.files:
            with dataset.filesystem.open_input_file(path) as handle:
                # ``keep`` may name columns left out of ``columns``: read whole rows, then project.
                read = names if keep is None else None
                for rows in format_of(path).batches(handle, read, READ_BATCH_ROWS):
                    batch = rows if keep is None else rows.filter(keep).select(names)
                    yield batch if batch.schema.equals(schema) else batch.cast(schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def positions(store: TableStore, files: list[DataFile], columns: list[str]) -> pa.Table:
    """``columns`` of every staged row with its position in the load as the sequence column."""
    tables, offset = [], 0
    for data in files:
        with store.filesystem.open_input_file(store.path(data.key)) as handle:
            table = format_of(data.key).read(handle, columns)
        tables.append(table.append_column(SEQ_COLUMN, pa.array(range(offset, offset + table.num_rows), pa.int64())))
        offset += table.num_rows
    return pa.concat_tables(tables) if tables else pa.table({SEQ_COLUMN: pa.array([], pa.int64())})


def later_repeats(store: TableStore, files: list[DataFile], key: tuple[str, ...]) -> pa.Table:
    """Rows repeating ``key`` of an earlier row of the load, whole, with their sequence numbers."""
    import duckdb

    keys = positions(store, files, list(key))
    if keys.num_rows == 0:
        return keys
    quoted = ", ".join('"' + k.replace('"', '""') + '"' for k in key)
    with duckdb.connect() as con:
        con.register("staged_keys", keys)
        seqs = con.execute(
            f'SELECT "{SEQ_COLUMN}" FROM (SELECT "{SEQ_COLUMN}", row_number() OVER (PARTITION BY {quoted} '
            f'ORDER BY "{SEQ_COLUMN}") AS n FROM staged_keys) WHERE n > 1 ORDER BY 1'
        ).fetchall()
    return rows_at(store, files, [s for (s,) in seqs])


def rows_at(store: TableStore, files: list[DataFile], seqs: list[int]) -> pa.Table:
    """The staged rows at positions ``seqs`` (sorted), with the sequence column."""
    parts, offset, wanted = [], 0, sorted(seqs)
    for data in files:
        local = [s - offset for s in wanted if offset <= s < offset + data.rows]
        if local:
            with store.filesystem.open_input_file(store.path(data.key)) as handle:
                table = format_of(data.key).read(handle).take(pa.array(local))
            parts.append(table.append_column(SEQ_COLUMN, pa.array([s + offset for s in local], pa.int64())))
        offset += data.rows
    if not parts:
        return pa.table({SEQ_COLUMN: pa.array([], pa.int64())})
    return pa.concat_tables(parts)


def without_rows(store: TableStore, staged: StagedFiles, seqs: set[int]) -> StagedFiles:
    """``staged`` with the rows at ``seqs`` left out: each touched file is written again under a new key."""
    kept, offset, rewritten = [], 0, 0
    for data in staged.files:
        local = [s - offset for s in seqs if offset <= s < offset + data.rows]
        offset += data.rows
        if not local:
            kept.append(data)
            continue
        file_format = format_of(data.key)
        with store.filesystem.open_input_file(store.path(data.key)) as handle:
            table = file_format.read(handle)
        mask = pc.invert(pc.is_in(pa.array(range(table.num_rows)), pa.array(local)))
        table = table.filter(mask)
        key = f"{data.key.removesuffix(file_format.suffix)}-r{rewritten}{file_format.suffix}"
        rewritten += 1
        sink = _Hashing(store.open_output(key))
        writer = file_format.writer(sink, table.schema)
        for batch in table.to_batches():
            writer.write_batch(batch)
        writer.close()
        sink.close()
        store.sync([key])
        store.delete([data.key])
        kept.append(replace(data, key=key, rows=table.num_rows, size=sink.size, sha256=sink.digest.hexdigest()))
    return replace(staged, files=kept)
