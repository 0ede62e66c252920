"""The source of a chunked load's finalize run: the parked chunks, read back batch by batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from dpone_core.errors import TerminalError
from dpone_core.model import ReadRequest
from dpone_core.runtime.chunks.store import ChunkInfo, ChunkStore
from dpone_core.spi.ports import SourceBase


class ChunkSource(SourceBase):
    """Reads the chunks of the given partitions in order, as one stream with one schema.

    Describes itself and its lineage as the source the chunks were extracted from, so reports,
    evidence and lineage name the real input.
    """

    def __init__(self, store: ChunkStore, chunks: list[ChunkInfo]) -> None:
        super().__init__()
        self.store, self.chunks = store, chunks
        first = chunks[0] if chunks else None
        self._describe = first.source if first else "chunks (none)"
        self._lineage = first.lineage if first else ("file", str(store.run_dir))

    def describe(self) -> str:
        """The extracted source's description, with the number of chunks."""
        return f"{self._describe} ({len(self.chunks)} chunks of run {self.store.run_id})"

    def lineage_name(self) -> tuple[str, str]:
        """The lineage name of the source the chunks came from."""
        return self._lineage

    def require_state(self, state: dict[str, Any] | None) -> None:
        """Refuse chunks read under another committed state than the current one (they may be stale).

        Only chunks whose read used the state count (see ``ChunkInfo.state_dependent``).
        """
        current = (state or {}).get("load_id")
        stale = [c.partition for c in self.chunks if c.state_dependent and c.state_load_id != current]
        if stale:
            raise TerminalError(
                f"load {current} of process {self.store.process} committed after chunk(s) {', '.join(stale[:10])} "
                f"of run {self.store.run_id} were extracted, so their rows and cursor range may be stale",
                step="extract",
                fix="extract every partition again under a new run id",
            )

    def _schema(self) -> pa.Schema:
        schema: pa.Schema | None = None
        for chunk in self.chunks:
            with pa.memory_map(str(self.store.chunk_path(chunk.partition))) as source:
                found = pa.ipc.open_file(source).schema
            if schema is None:
                schema = found
            elif not found.equals(schema):
                raise TerminalError(
                    f"chunk {chunk.partition} of run {self.store.run_id} has schema {found.types} where the "
                    f"first chunk has {schema.types} (the source changed between extract runs)",
                    step="extract",
                    fix="extract every partition again with a new run id",
                )
        return schema if schema is not None else pa.schema([])

    def read(self, request: ReadRequest) -> pa.RecordBatchReader:
        """Stream every chunk's batches (projected to ``request.columns``); predicates do not apply here."""
        schema = self._schema()
        missing = [c for c in request.columns or () if c not in schema.names]
        if missing:
            raise TerminalError(
                f"source columns {missing} are not in the extracted chunks ({schema.names})",
                step="extract",
                fix="extract again after changing source.columns",
            )
        columns = list(request.columns) if request.columns else schema.names
        projected = pa.schema([schema.field(c) for c in columns])
        return pa.RecordBatchReader.from_batches(projected, self._batches(columns))

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        for chunk in self.chunks:
            # Not closed explicitly: a batch may still reference the mapped file after this loop
            # moves on; the map is released when the last batch referencing it is.
            reader = pa.ipc.open_file(pa.memory_map(str(self.store.chunk_path(chunk.partition))))
            for index in range(reader.num_record_batches):
                yield reader.get_batch(index).select(columns)

    def close(self) -> None:
        """Nothing stays open between reads."""
