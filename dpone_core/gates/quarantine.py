"""Quarantine: rejected rows, with their original values and the failing rules, in one Parquet file per load.

Before a load writes its file it writes a hidden owner marker beside it, ``.<load_id>.owner``,
naming the target. The marker is removed once the load commits. Clean-up after a crash removes a
file only when its marker names the same target and that target has no committed load with the
id: several targets (two warehouses of one manifest, say) may share a quarantine folder, and a
file without a marker is never touched.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.durable import sha256_file
from dpone_core.gates.contract import REASON_COLUMN

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from dpone_core.spi.ports import AuditLog


def _marker(folder: Path, load_id: str) -> Path:
    return folder / f".{load_id}.owner"


class QuarantineWriter:
    """Writes rejected batches to ``<dir>/<process>/<load_id>.parquet`` (opened on the first bad row).

    ``owner`` names the target (see the module docstring); it goes into the owner marker.
    """

    def __init__(self, directory: Path, process: str, load_id: str, raw_schema: pa.Schema, owner: str) -> None:
        self.path = directory / process / f"{load_id}.parquet"
        self.load_id, self.owner = load_id, owner
        self.schema = raw_schema.append(pa.field(REASON_COLUMN, pa.string()))
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, rejected: pa.RecordBatch) -> None:
        """Append rejected rows (columns are cast to the quarantine schema by name)."""
        if rejected.num_rows == 0:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            marker = {"target": self.owner, "load_id": self.load_id}
            _marker(self.path.parent, self.load_id).write_text(json.dumps(marker), encoding="utf-8")
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
        _marker(self.path.parent, self.load_id).unlink(missing_ok=True)

    def committed(self) -> None:
        """The load committed: its file is the target's now, and no clean-up may remove it."""
        with contextlib.suppress(OSError):  # a marker left behind is harmless: the load id is committed
            _marker(self.path.parent, self.load_id).unlink(missing_ok=True)


def owned_markers(folder: Path, owner: str) -> Iterator[tuple[Path, str]]:
    """The owner markers in ``folder`` that name ``owner`` as their target, with their load ids."""
    if not folder.is_dir():
        return
    for marker in sorted(folder.glob(".*.owner")):
        try:
            claim = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(claim, dict) and claim.get("target") == owner:
            yield marker, str(claim.get("load_id"))


def discard_uncommitted(folder: Path, sink: AuditLog, process: str, owner: str, *, single_writer: bool) -> list[str]:
    """Delete the quarantine files in ``folder`` that ``owner``'s loads wrote but never committed.

    Their rows will be read again. Only where the sink guarantees a single writer for the whole run
    (DuckDB's file lock); elsewhere another run of the process may be writing its file right now.
    Files of other targets, and files without an owner marker, are left alone.
    """
    if not single_writer:
        return []
    committed: set[str] | None = None
    removed = []
    for marker, load_id in owned_markers(folder, owner):
        if committed is None:
            committed = {str(row["load_id"]) for row in sink.loads(process)}
        data = folder / f"{load_id}.parquet"
        if load_id not in committed:
            if data.exists():
                removed.append(data.name)
            data.unlink(missing_ok=True)
        marker.unlink(missing_ok=True)
    return removed
