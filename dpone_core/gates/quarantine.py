"""Quarantine: rejected rows, with their original values and the failing rules, in one Parquet file per load."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.gates.contract import REASON_COLUMN

if TYPE_CHECKING:
    import pyarrow.parquet as pq


class QuarantineWriter:
    """Writes rejected batches to ``<dir>/<process>/<load_id>.parquet`` (opened on the first bad row)."""

    def __init__(self, directory: Path, process: str, load_id: str, raw_schema: pa.Schema) -> None:
        self.path = directory / process / f"{load_id}.parquet"
        self.schema = raw_schema.append(pa.field(REASON_COLUMN, pa.string()))
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, rejected: pa.RecordBatch) -> None:
        """Append rejected rows (columns are cast to the quarantine schema by name)."""
        if rejected.num_rows == 0:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            import pyarrow.parquet as pq  # only a load with quarantined rows pays for it (~40 ms at start-up)

            self._writer = pq.ParquetWriter(str(self.path), self.schema)
        arrays = []
        for f in self.schema:
            if f.name in rejected.schema.names:
                column = rejected.column(f.name)
                arrays.append(column if column.type == f.type else pc.cast(column, f.type))
            else:
                arrays.append(pa.nulls(rejected.num_rows, f.type))
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.rows += rejected.num_rows

    def close(self) -> tuple[str, str] | None:
        """Finish the file; return (path, sha256) or None when nothing was quarantined."""
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        return str(self.path), sha256_file(self.path)

    def discard(self) -> None:
        """Delete the file of a load that did not commit (its rows will be read again)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.path.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def discard_uncommitted(folder: Path, sink: Any, process: str) -> list[str]:
    """Delete the quarantine files in ``folder`` of loads that never committed; return their names.

    Their rows will be read again. Only where the sink guarantees a single writer for the whole run
    (DuckDB's file lock); elsewhere another run of the process may be writing its file right now.
    """
    if not getattr(sink, "single_writer", False) or not folder.is_dir():
        return []
    committed = {row["load_id"] for row in sink.loads(process)}
    removed = []
    for path in sorted(folder.glob("*.parquet")):
        if path.stem not in committed:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed
