"""Where the chunks of one run are parked, and how they are written so a reader never sees half a file.

Layout: ``<chunk_dir>/<process>/<run_id>/<partition>.arrow`` plus ``<partition>.json`` (rows,
schema, the source it came from). Names are percent-encoded, so any run id or partition value is a
safe file name. A chunk is written to a temporary name and renamed into place, then its marker is
written the same way: a chunk without its marker does not exist.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa

from dpone_core.durable import publish, temporary_beside, write_json
from dpone_core.errors import TerminalError
from dpone_core.model import iter_batches

if TYPE_CHECKING:
    from dpone_core.runtime.context import RunContext

CHUNK_SUFFIX = ".arrow"
MARKER_SUFFIX = ".json"


def safe_name(value: str) -> str:
    """A file name for any run id or partition key (percent-encoded, never ``.`` or ``..``).

    >>> safe_name("manual__2026-11-23T18:00:00+00:00"), safe_name("a/b"), safe_name("..")
    ('manual__2026-11-23T18%3A00%3A00%2B00%3A00', 'a%2Fb', '%2E%2E')
    """
    encoded = quote(value, safe="-_")
    return encoded.replace(".", "%2E")


@dataclass(frozen=True)
class ChunkInfo:
    """What the marker of one parked chunk says."""

    process: str
    run_id: str
    partition: str
    rows: int
    bytes: int
    source: str
    lineage: tuple[str, str]
    extracted_at: str
    state_load_id: str | None = None
    """The load the process's committed state came from when this chunk was read."""
    state_dependent: bool = True
    """Whether the read used that state (an incremental cursor or file set): only then can a load
    committed since make the chunk stale. A chunk of a process without ``incremental`` reads the
    same rows whatever committed before, so overlapping chunked runs (a backfill) can each finish."""


@dataclass(frozen=True)
class ChunkStore:
    """The parked chunks of one run of one process."""

    root: Path
    """``<chunk_dir>/<process>``."""
    process: str
    run_id: str

    @property
    def run_dir(self) -> Path:
        """The folder holding this run's chunks."""
        return self.root / safe_name(self.run_id)

    def chunk_path(self, partition: str) -> Path:
        """The Arrow IPC file of ``partition``."""
        return self.run_dir / f"{safe_name(partition)}{CHUNK_SUFFIX}"

    def marker_path(self, partition: str) -> Path:
        """The marker of ``partition`` (written last: its presence means the chunk is complete)."""
        return self.run_dir / f"{safe_name(partition)}{MARKER_SUFFIX}"

    def write(
        self,
        partition: str,
        reader: pa.RecordBatchReader,
        source: str,
        lineage: tuple[str, str],
        state_load_id: str | None = None,
        *,
        state_dependent: bool = True,
    ) -> ChunkInfo:
        """Park the stream as ``partition``'s chunk, replacing an earlier attempt's; returns its marker.

        Batches are written as they arrive (one in memory at a time), LZ4-compressed, to a
        temporary file that is fsynced and renamed into place.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        final = self.chunk_path(partition)
        self.marker_path(partition).unlink(missing_ok=True)  # an old marker must not vouch for a new file
        partial = temporary_beside(final)
        rows = 0
        try:
            options = pa.ipc.IpcWriteOptions(compression="lz4")
            with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, reader.schema, options=options) as out:
                for batch in iter_batches(reader):
                    if batch.num_rows:
                        out.write_batch(batch)
                        rows += batch.num_rows
            publish(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        info = ChunkInfo(
            self.process,
            self.run_id,
            partition,
            rows,
            final.stat().st_size,
            source,
            lineage,
            datetime.now(UTC).isoformat(),
            state_load_id,
            state_dependent,
        )
        write_json(self.marker_path(partition), asdict(info))
        return info

    def read_marker(self, partition: str) -> ChunkInfo | None:
        """The marker of ``partition``, or None when that chunk was never completely parked."""
        try:
            data: dict[str, Any] = json.loads(self.marker_path(partition).read_text())
        except FileNotFoundError:
            return None
        data["lineage"] = tuple(data["lineage"])
        return ChunkInfo(**data)

    def require(self, partitions: Iterable[str]) -> list[ChunkInfo]:
        """The markers of every partition; a missing chunk is an error naming them all (nothing is loaded)."""
        keys = list(partitions)
        markers = {key: self.read_marker(key) for key in keys}
        missing = [key for key, marker in markers.items() if marker is None or not self.chunk_path(key).is_file()]
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise TerminalError(
                f"run {self.run_id} has no extracted chunk for partition(s) {shown} under {self.run_dir}",
                step="extract",
                fix="run the extract phase for those partitions with the same run id (or pass the keys that ran)",
            )
        return [m for m in markers.values() if m is not None]

    def remove(self) -> None:
        """Delete this run's chunks (after its commit); never raises."""
        shutil.rmtree(self.run_dir, ignore_errors=True)


def chunk_store(ctx: RunContext) -> ChunkStore:
    """The chunk store of the context's process and run."""
    assert ctx.process.partitions is not None
    folder = ctx.path(ctx.process.partitions.chunk_dir, "partitions.chunk_dir")
    return ChunkStore(folder / ctx.process.name, ctx.process.name, ctx.run_id)
