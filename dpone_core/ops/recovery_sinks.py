"""Read-only listings of what killed runs leave on a sink: staging, unfinished publishes, quarantine files.

Each sink removes its own leftovers with ``cleanup_orphans(process)`` at the start of a run, which
deletes. A recovery plan must only look, so this module lists the same things the way each sink
names them, without changing anything:

==================  ====================================================================================
sink                what is listed
==================  ====================================================================================
DuckDB              folders ``<database>.dpone_staging/stg_<process>__<load_id>`` (staged Parquet files)
Postgres, SQL       tables ``<staging_schema>.stg_<process>__<load_id>``
ClickHouse          ``stg_`` / ``new_`` tables of the process in the staging database, and journal rows
                    still ``publishing`` in ``__dpone__loads`` (a publish the next run finishes)
Parquet table       data files no version needs and older than ``gc_grace`` (what the GC removes)
Delta table         local scratch folders of the process older than a day
==================  ====================================================================================

Quarantine files of loads that never committed are found from their owner markers
(``.<load_id>.owner``, see :mod:`dpone_core.gates.quarantine`) and the process's audit rows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from dpone_core.gates.quarantine import owned_markers
from dpone_core.runtime.chunks.store import MARKER_SUFFIX
from dpone_core.spi.ports import Sink

DELTA_SCRATCH_PREFIX = "dpone-delta-"
"""The Delta sink's local scratch folders are ``<tmp>/dpone-delta-<process>-*``."""
POSTGRES_IDENTIFIER = 63


@dataclass
class SinkLeftovers:
    """What one process's sink holds of runs that did not finish."""

    staging: list[str] = field(default_factory=list)
    pending_publishes: list[str] = field(default_factory=list)
    """ClickHouse: load ids journalled ``publishing`` without a commit."""
    listed: bool = True
    """False when this sink kind has no read-only listing (its ``cleanup_orphans`` still works)."""


def _duckdb(sink: Any, process: str) -> SinkLeftovers:
    from dpone_core.connectors.sql.sink import staging_name

    folder: Path = sink.staging_dir
    prefix = staging_name(process, "")
    return SinkLeftovers(sorted(p.name for p in folder.glob(prefix + "*")) if folder.is_dir() else [])


def _sql(sink: Any, process: str) -> SinkLeftovers:
    from dpone_core.connectors.sql.sink import staging_name

    # Postgres cuts identifiers at 63 bytes, so a long process name's prefix is cut the same way.
    prefix = staging_name(process, "")[:POSTGRES_IDENTIFIER]
    try:
        names = sink.list_tables(sink.staging_schema)
    except Exception:  # noqa: BLE001 - no staging schema yet: nothing was ever staged
        return SinkLeftovers()
    return SinkLeftovers(sorted(n for n in names if str(n).startswith(prefix)))


def _clickhouse(sink: Any, process: str) -> SinkLeftovers:
    if not sink.bookkeeping.exists():
        return SinkLeftovers()
    pending = [entry.load_id for entry in sink.bookkeeping.pending(process)]
    return SinkLeftovers(sorted(sink.staging_tables(process)), pending)


def _parquet_table(sink: Any, process: str) -> SinkLeftovers:
    from dpone_core.connectors.object_store.table_gc import garbage_keys

    head = sink.log.head()
    if head is None:
        return SinkLeftovers()  # as the GC: before the first commit every file may be a live load's
    older = [f.key for f in sink.legacy.version.files] if sink.legacy and sink.legacy.version else []
    return SinkLeftovers(sorted(garbage_keys(sink.store, sink.log, sink.folder, sink.gc_grace, head, older)))


def _delta(sink: Any, process: str) -> SinkLeftovers:
    cutoff = datetime.now(UTC).timestamp() - 86_400
    folders = Path(tempfile.gettempdir()).glob(f"{DELTA_SCRATCH_PREFIX}{process}-*")
    return SinkLeftovers(sorted(f.name for f in folders if f.is_dir() and f.stat().st_mtime < cutoff))


_LISTINGS: dict[str, Callable[[Any, str], SinkLeftovers]] = {
    "DuckDBSink": _duckdb,
    "ClickHouseSink": _clickhouse,
    "ObjectTableSink": _parquet_table,
    "DeltaTableSink": _delta,
    "SqlSink": _sql,
}


def sink_leftovers(sink: Sink, process: str) -> SinkLeftovers:
    """The process's leftovers on ``sink``, by the most specific sink class that has a listing."""
    for klass in type(sink).__mro__:
        listing = _LISTINGS.get(klass.__name__)
        if listing is not None:
            return listing(sink, process)
    return SinkLeftovers(listed=False)


def uncommitted_quarantine(folder: Path, sink: Sink, process: str, owner: str) -> list[Path]:
    """Quarantine files in ``folder`` that ``owner``'s loads wrote and never committed (nothing removed).

    The same rule as :func:`dpone_core.gates.quarantine.discard_uncommitted`: only files whose
    owner marker names this target, and whose load id has no audit row.
    """
    committed: set[str] | None = None
    found = []
    for _, load_id in owned_markers(folder, owner):
        if committed is None:
            committed = {str(row["load_id"]) for row in sink.loads(process)}
        data = folder / f"{load_id}.parquet"
        if load_id not in committed and data.exists():
            found.append(data)
    return found


@dataclass(frozen=True)
class ParkedRun:
    """The parked chunks of one run of a chunked load (``<chunk_dir>/<process>/<run_id>/``)."""

    run_id: str
    folder: Path
    chunks: int
    committed: bool
    """The sink's audit table has this run id: the finalize committed and died before removing them."""


def parked_runs(chunk_root: Path, sink: Sink, process: str) -> list[ParkedRun]:
    """Runs with chunks under ``chunk_root`` (``<chunk_dir>/<process>``), each checked against the audit table."""
    if not chunk_root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in chunk_root.iterdir() if p.is_dir()):
        chunks = len(list(folder.glob(f"*{MARKER_SUFFIX}")))
        run_id = unquote(folder.name)
        found.append(ParkedRun(run_id, folder, chunks, sink.committed_load(process, run_id) is not None))
    return found
