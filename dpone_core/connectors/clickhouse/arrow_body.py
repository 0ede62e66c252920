"""Arrow batches as the body of one ClickHouse insert: an Arrow IPC stream, with a content digest.

A chunk's digest goes into its ``insert_deduplication_token``, so a resent chunk is recognised by
what it holds, not by when it was sent (the same token with other rows would be dropped).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa


@dataclass
class Chunk:
    """One insert's body: IPC stream pieces, their rows and the sha256 of the bytes."""

    pieces: list[bytes]
    rows: int
    digest: str

    def body(self) -> Iterator[bytes]:
        """The pieces, as the streamed request body."""
        yield from self.pieces


class _Collector:
    """A file-like sink for ``pa.ipc.new_stream`` that keeps pieces and hashes them as written."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.sha = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        piece = bytes(data)
        self.pieces.append(piece)
        self.sha.update(piece)
        self.size += len(piece)
        return len(piece)

    def flush(self) -> None:
        """Nothing buffered."""

    def close(self) -> None:
        self.closed = True


def chunks(batches: Iterable[pa.RecordBatch], schema: pa.Schema, max_rows: int, max_bytes: int) -> Iterator[Chunk]:
    """Coalesce ``batches`` into chunks of up to ``max_rows`` rows / ``max_bytes`` bytes (one insert each)."""
    collector: _Collector | None = None
    writer: pa.ipc.RecordBatchStreamWriter | None = None
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if writer is None:
            collector = _Collector()
            writer = pa.ipc.new_stream(collector, schema)
        writer.write_batch(batch)
        rows += batch.num_rows
        assert collector is not None
        if rows >= max_rows or collector.size >= max_bytes:
            writer.close()
            yield Chunk(collector.pieces, rows, collector.sha.hexdigest())
            collector, writer, rows = None, None, 0
    if writer is not None and collector is not None:
        writer.close()
        yield Chunk(collector.pieces, rows, collector.sha.hexdigest())


def table_chunk(table: pa.Table) -> Chunk:
    """A small table (bookkeeping rows) as one chunk."""
    found = list(chunks(table.to_batches(), table.schema, max(table.num_rows, 1), 1 << 62))
    if not found:
        return Chunk([], 0, hashlib.sha256().hexdigest())
    return found[0]
