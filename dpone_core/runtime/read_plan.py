"""What an attempt asks its source for: columns, incremental and partition predicates, batch sizes."""

from __future__ import annotations

from typing import Any

from dpone_core.connectors.ports import Predicate, ReadRequest
from dpone_core.errors import ConfigurationError
from dpone_core.gates.contract import ContractGate
from dpone_core.manifest.process import Process
from dpone_core.runtime.partitions import partition_predicates
from dpone_core.runtime.pipeline import RowFilter
from dpone_core.state.cursor import CursorTracker, decode_cursor, lower_bound


def plan_read(
    process: Process, partition: str | None, source: Any, contract: ContractGate, state_before: dict[str, Any] | None
) -> tuple[ReadRequest, RowFilter, CursorTracker | None]:
    """The read request, the row filter and the cursor tracker of one attempt.

    Incremental predicates come from the committed state (never the target); a partition run
    filters to its slice instead and leaves the cursor (or xmin horizon) where it is.
    """
    predicates: list[Predicate] = []
    tracker = None
    incremental = process.source.incremental
    # A partition run loads a slice chosen by the caller (replay, backfill): the cursor neither
    # filters it nor moves, so backfilling old partitions never skips or rewinds anything.
    if incremental is not None and incremental.mode == "xmin" and partition is None:
        use_xmin = getattr(source, "use_xmin", None)
        if use_xmin is None:
            raise ConfigurationError(
                f"incremental mode xmin needs a Postgres table source, not {source.describe()}",
                step="extract",
                fix="use incremental.cursor with a column of the source",
            )
        use_xmin(((state_before or {}).get("extra") or {}).get("xmin_horizon"))
    elif incremental is not None and partition is None:
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
        predicates.extend(partition_predicates(process.partitions, partition, source))
    columns = tuple(process.source.columns) if process.source.columns else None
    request = ReadRequest(
        columns, tuple(predicates), process.source.batch_rows, process.source.batch_bytes, contract.text_columns()
    )
    return request, RowFilter(tuple(predicates)), tracker
