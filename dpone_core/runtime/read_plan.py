"""What an attempt asks its source for: columns, incremental and partition predicates, batch sizes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from dpone_core.errors import ConfigurationError, TerminalError
from dpone_core.gates.contract import ContractGate
from dpone_core.manifest.process import Process
from dpone_core.model import Predicate, ReadRequest
from dpone_core.model.capabilities import Capabilities
from dpone_core.runtime.column_names import renamed_reader
from dpone_core.runtime.partitions import partition_predicates
from dpone_core.runtime.pipeline import RowFilter, cursor_type
from dpone_core.spi.ports import Source
from dpone_core.state.cursor import CursorTracker, decode_cursor, lower_bound

ChunkPhase = Literal["extract", "finalize"]


@dataclass
class OpenedRead:
    """A source reader opened for one attempt, with the filter and cursor tracker that go with it."""

    reader: pa.RecordBatchReader
    row_filter: RowFilter
    tracker: CursorTracker | None


def plan_read(
    process: Process,
    partition: str | None,
    source: Source,
    capabilities: Capabilities,
    contract: ContractGate,
    state_before: dict[str, Any] | None,
    *,
    chunk_phase: ChunkPhase | None = None,
) -> tuple[ReadRequest, RowFilter, CursorTracker | None]:
    """The read request, the row filter and the cursor tracker of one attempt.

    Incremental predicates come from the committed state (never the target); a partition run
    filters to its slice instead and leaves the cursor (or xmin horizon) where it is.

    A chunked load is one load split across workers, so it follows the cursor: each ``extract``
    run filters its partition by the committed cursor, and the ``finalize`` run (whose rows the
    extracts already cut) only tracks the cursor to move it forward at commit.
    """
    predicates: list[Predicate] = []
    tracker = None
    incremental = process.source.incremental
    if chunk_phase is not None and incremental is not None and incremental.mode != "cursor":
        raise ConfigurationError(
            f"incremental mode {incremental.mode} keeps one state for the whole read, which separate extract "
            "runs cannot share",
            step="extract",
            fix="use incremental.cursor for a chunked load, or run the process as one load",
        )
    # A partition run loads a slice chosen by the caller (replay, backfill): the cursor neither
    # filters it nor moves, so backfilling old partitions never skips or rewinds anything.
    follows_cursor = partition is None or chunk_phase == "extract"
    if chunk_phase == "finalize":
        if incremental is not None and incremental.cursor is not None:
            tracker = CursorTracker(incremental.cursor)
    elif incremental is not None and incremental.mode != "cursor" and follows_cursor:
        if incremental.mode not in capabilities.own_state_modes:
            needs = {"xmin": "a Postgres table source", "files": "a files or object-store source"}[incremental.mode]
            raise ConfigurationError(
                f"incremental mode {incremental.mode} needs {needs}, not {source.describe()}",
                step="extract",
                fix="use incremental.cursor with a column of the source",
            )
        source.use_held_state((state_before or {}).get("extra"))
    elif incremental is not None and follows_cursor:
        assert incremental.cursor is not None
        tracker = CursorTracker(incremental.cursor)
        cursor = decode_cursor(state_before.get("cursor_value")) if state_before else None
        bound = lower_bound(cursor, incremental)
        if bound is not None:
            op = ">" if cursor is not None and not incremental.lookback else ">="
            predicates.append(Predicate(incremental.cursor, op, bound))  # type: ignore[arg-type]
    if partition is not None:
        if process.partitions is None:
            raise ConfigurationError(
                "a partition was requested but the process has no partitions block",
                step="extract",
                fix="add partitions to the process or drop --partition",
            )
        bounds = source.key_bounds if capabilities.key_bounds else None
        predicates.extend(partition_predicates(process.partitions, partition, bounds))
    columns = tuple(process.source.columns) if process.source.columns else None
    request = ReadRequest(
        columns, tuple(predicates), process.source.batch_rows, process.source.batch_bytes, contract.text_columns()
    )
    return request, RowFilter(tuple(predicates)), tracker


RESERVED_PREFIX = "__dpone_"
"""Columns dpone adds to staged rows and quarantine files; a source column may not start with it."""


def check_source_columns(process: Process, schema: pa.Schema) -> None:
    """Fail before any row moves when the source's columns cannot carry this load.

    Reserved or repeated names, and keys the strategy needs (primary key, the partition column of
    partition_replace), are checked on the source schema rather than left to the target's DDL.
    """
    names = schema.names
    reserved = [n for n in names if n.startswith(RESERVED_PREFIX)]
    if reserved:
        raise TerminalError(
            f"source columns {reserved} use the prefix {RESERVED_PREFIX}, which dpone keeps for its own columns",
            step="extract",
            fix="rename them in the source (a query source, or source.column_names) or leave them out (source.columns)",
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise TerminalError(
            f"the source has more than one column named {repeated}", step="extract", fix="give each column its own name"
        )
    needed = {"sink.primary_key": list(process.sink.primary_key)}
    if process.sink.strategy == "partition_replace" and process.partitions is not None:
        needed["partitions.column"] = [process.partitions.column]
    for key, columns in needed.items():
        missing = [c for c in columns if c not in names]
        if missing:
            raise TerminalError(
                f"{key} names {missing}, which the source does not have (it has {names})",
                step="extract",
                fix=f"fix {key}, or add the column to the source",
            )


def open_read(
    process: Process,
    partition: str | None,
    source: Source,
    capabilities: Capabilities,
    contract: ContractGate,
    state_before: dict[str, Any] | None,
    *,
    chunk_phase: ChunkPhase | None = None,
) -> OpenedRead:
    """Open the source's reader for one attempt (names normalised) and type the filter's columns.

    The reader streams lazily: no row is read until the caller pulls a batch.
    """
    request, row_filter, tracker = plan_read(
        process, partition, source, capabilities, contract, state_before, chunk_phase=chunk_phase
    )
    mode = process.source.column_names
    if mode != "as_is":
        # Filters name normalised columns, which the source does not know: apply them after reading.
        request = dataclasses.replace(request, predicates=())
    reader = renamed_reader(source.read(request), mode)
    check_source_columns(process, reader.schema)
    if tracker is not None and tracker.column not in reader.schema.names:
        raise TerminalError(
            f"cursor column {tracker.column} is not in the source",
            step="extract",
            fix="fix source.incremental.cursor",
        )
    if tracker is not None:
        row_filter.types[tracker.column] = cursor_type(contract, reader.schema, tracker.column)
    for predicate in row_filter.predicates:
        if predicate.column not in reader.schema.names:
            raise TerminalError(
                f"filter column {predicate.column} is not in the source",
                step="extract",
                fix="fix partitions.column",
            )
        row_filter.types[predicate.column] = cursor_type(contract, reader.schema, predicate.column)
    return OpenedRead(reader, row_filter, tracker)
