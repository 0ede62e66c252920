"""``check_table``: open a process's sink read-only and re-verify what its target holds now."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.connectors.endpoints import open_sink, sink_table
from dpone_core.errors import ConfigurationError
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.model import Predicate
from dpone_core.runtime.partitions import partition_predicates
from dpone_core.runtime.report import GateVerdict
from dpone_core.runtime.runner import error_entry
from dpone_core.spi.ports import Sink
from dpone_core.verification.audit_checks import freshness_verdict, row_count_verdict
from dpone_core.verification.contract_checks import columns_to_read, contract_verdicts
from dpone_core.verification.report import TableCheckReport

log = logging.getLogger("dpone")


def check_table(
    loaded: LoadedManifest,
    process: Process,
    *,
    partition: str | None = None,
    max_age_seconds: float | None = None,
) -> TableCheckReport:
    """Check ``process``'s target (or one partition's slice) against its contract and audit rows.

    Never raises for an expected failure: a missing table is a failed ``target.exists`` verdict,
    a connection or configuration problem is an error in the report. Nothing is written or locked.
    """
    now = datetime.now(UTC)
    base = {"process": process.name, "target": sink_table(process).display(), "partition": partition, "checked_at": now}
    try:
        _check_partition_key(process, partition)
        sink = open_sink(loaded.manifest, process, loaded.base_dir, read_only=True)
    except Exception as exc:  # noqa: BLE001 - a report line, never a traceback
        return TableCheckReport(**base, errors=[_entry(exc, process)])
    try:
        return _check(sink, process, partition, max_age_seconds, now, base)
    except Exception as exc:  # noqa: BLE001 - a driver error becomes the report's one line
        return TableCheckReport(**base, errors=[_entry(exc, process)])
    finally:
        sink.close()


def _check(
    sink: Sink,
    process: Process,
    partition: str | None,
    max_age_seconds: float | None,
    now: datetime,
    base: dict[str, Any],
) -> TableCheckReport:
    loads = sink.loads(process.name)
    last = {k: loads[0].get(k) for k in ("load_id", "run_id", "finished_at")} if loads else None
    freshness = freshness_verdict(loads, max_age_seconds, now)
    schema = sink.target_schema()
    if schema is None:
        missing = GateVerdict(
            gate="target", rule="table.exists", verdict="failed", detail="the target table does not exist"
        )
        return TableCheckReport(**base, verdicts=[missing, freshness], last_load=last)
    present = {c.name for c in schema.columns}
    names = [c for c in columns_to_read(process) if c in present]
    if names:
        table = _slice(sink.read_target(names), process, partition)
        rows = table.num_rows
    else:  # no rule needs a column: count only
        table, rows = pa.table({}), sink.row_count() or 0
    verdicts = [
        *contract_verdicts(process, table),
        row_count_verdict(process, loads, rows, partition),
        freshness,
    ]
    return TableCheckReport(**base, checked_rows=rows, verdicts=verdicts, last_load=last)


def _check_partition_key(process: Process, partition: str | None) -> None:
    if partition is not None and process.partitions is None:
        raise ConfigurationError(
            f"process {process.name} has no partitions, so there is no partition {partition} to check",
            step="check",
            fix="drop the partition, or add a partitions block to the process",
        )


def _slice(table: pa.Table, process: Process, partition: str | None) -> pa.Table:
    """The rows of ``partition`` (key ranges are slices of one load, not of the table: all rows)."""
    partitions = process.partitions
    if partition is None or partitions is None or partitions.ranges is not None:
        return table
    predicates = partition_predicates(partitions, partition)
    return table.filter(_mask(table, predicates))


def _mask(table: pa.Table, predicates: Sequence[Predicate]) -> pa.ChunkedArray | pa.Array:
    ops = {">": pc.greater, ">=": pc.greater_equal, "<": pc.less, "<=": pc.less_equal, "==": pc.equal}
    mask: Any = None
    for predicate in predicates:
        column = table[predicate.column]
        term = pc.fill_null(ops[predicate.op](column, _scalar(predicate.value, column.type)), False)
        mask = term if mask is None else pc.and_(mask, term)
    return mask


def _scalar(value: object, arrow_type: pa.DataType) -> pa.Scalar:
    """``value`` as a scalar of the column's type (a window bound on a date or naive timestamp column)."""
    if isinstance(value, datetime):
        if pa.types.is_date(arrow_type):
            return pa.scalar(value.date(), arrow_type)
        if pa.types.is_timestamp(arrow_type) and arrow_type.tz is None:
            return pa.scalar(value.astimezone(UTC).replace(tzinfo=None), arrow_type)
        return pa.scalar(value, pa.timestamp("us", "UTC")).cast(arrow_type)
    if isinstance(value, date):
        return pa.scalar(value, pa.date32()).cast(arrow_type)
    return pa.scalar(value).cast(arrow_type)


def _entry(exc: BaseException, process: Process) -> Any:
    if not isinstance(exc, ConfigurationError):
        log.debug("dpone check %s failed", process.name, exc_info=True)
    return error_entry(exc, process.name)
