"""When and how the ``native`` write path (``write_paths.NativeRead``) lets the sink's engine read the files.

When the sink reads a file format itself (``Capabilities.reads_files``: DuckDB's ``read_parquet``
on every core) and the source's rows are files of that format, local or on a store
(``Source.file_scan``), the rows need not pass one Python-fed Arrow stream. The sink stages a
view over the files and runs the contract as SQL over the same scan (``Sink.scan_files``); the
commit then applies the strategy, audit row and state in one transaction, as for any staged load.

Exactness first: this path is taken only where the Arrow path would convert nothing (no declared
type other than the file's, no type gate cast, no rename, filter, cursor, marker or chunk), and
the sink refuses whatever its engine would read or judge differently. A refusal, a duplicate key
or, outside ``quarantine``, a row breaking the contract declines the path with nothing committed,
and the load reads again as Arrow, whose gates decide and report as always. Under ``quarantine``
a breaking row makes the path scan again, splitting the rejected rows off with a ``WHERE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from dpone_core.errors import DponeError
from dpone_core.model import SEQ_COLUMN, empty_batch
from dpone_core.runtime.pipeline import StreamStats
from dpone_core.spi.ports import FileScan, ScannedRows

if TYPE_CHECKING:
    from dpone_core.runtime.preparation import Prepared

NATIVE_STRATEGIES = frozenset({"full_refresh", "append", "merge", "incremental", "snapshot_diff"})
"""Strategies whose statements read staging as a plain table (scd2 and partition_replace stage as Arrow)."""


def native_scan(prepared: Prepared, *, whole: bool) -> FileScan | None:
    """The source's files, when the sink reads their format itself and the Arrow path would convert nothing."""
    draft = prepared.draft
    process, opened = draft.ctx.process, draft.opened
    if not whole or opened.tracker is not None or opened.row_filter.predicates:
        return None
    if process.source.column_names != "as_is" or process.sink.delete_marker is not None:
        return None
    if process.sink.strategy not in NATIVE_STRATEGIES:
        return None
    source = opened.reader.schema
    casts = prepared.evolution.casts
    if any(name not in source.names or not same_values(source.field(name).type, t) for name, t in casts.items()):
        return None  # the type gate converts values (the Arrow path may quarantine some)
    staged = [f for f in prepared.stream.staging_schema() if f.name != SEQ_COLUMN]
    if [f.name for f in staged] != source.names or not all(
        same_values(s.type, f.type) for s, f in zip(source, staged, strict=True)
    ):
        return None  # a declared type or a dropped column: the Arrow path converts
    scan = draft.source.file_scan()
    formats = draft.ctx.sink_spec.capabilities.reads_files
    if scan is None or scan.format not in formats or scan.schema.names != source.names:
        return None
    return scan


def same_values(read: pa.DataType, stored: pa.DataType) -> bool:
    """Converting ``read`` to ``stored`` changes no value: the same type, or instants named in another zone.

    >>> same_values(pa.timestamp("us", "UTC"), pa.timestamp("us", "Etc/UTC")), same_values(pa.int32(), pa.int64())
    (True, False)
    """
    if read == stored:
        return True
    timestamps = pa.types.is_timestamp(read) and pa.types.is_timestamp(stored)
    return timestamps and read.unit == stored.unit and read.tz is not None and stored.tz is not None


def scan_keys(prepared: Prepared) -> Sequence[tuple[str, ...]]:
    """Keys the scan must prove unique: all the contract's, but a new table's own primary key.

    Into a table this load creates, the primary key rejects a repeated key itself (the commit fails
    with DuplicateKeyError and the path declines), as in a direct load.
    """
    ctx = prepared.draft.ctx
    key = tuple(ctx.process.sink.primary_key)
    enforced = ctx.sink_spec.capabilities.enforces_keys and prepared.evolution.creates_table and key
    return [unique for unique in prepared.contract.unique_keys if not (enforced and unique == key)]


def count_scanned(prepared: Prepared, scanned: ScannedRows) -> None:
    """The stream's and the gate's counts as the Arrow path gathers them; rejected rows to quarantine."""
    stream, contract = prepared.stream, prepared.contract
    stream.stats = StreamStats(extracted=scanned.rows, passed=scanned.rows - scanned.rejected_rows)
    contract.totals.clear()
    contract.totals.update(scanned.failures)
    stream.stats.failures.update(scanned.failures)
    if not scanned.rows:
        contract.descriptions.clear()  # the gate saw no batch, so it described no rule
    if scanned.rejected is not None:
        for batch in scanned.rejected:
            prepared.quarantine.write(batch)
        stream.stats.quarantined = prepared.quarantine.rows


def describe_rules(prepared: Prepared, schema: pa.Schema) -> bool:
    """Pass an empty batch through the gate: it describes every rule (reasons and verdicts read the
    descriptions) and raises on what it cannot check (a bound of the wrong type, a bad regex).

    False when it raised: the Arrow path reports that as it does.
    """
    try:
        prepared.contract.check(empty_batch(schema))
    except (DponeError, pa.ArrowException):
        return False
    return True
