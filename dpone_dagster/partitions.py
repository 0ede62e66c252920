"""Dagster partitions for dpone processes, and filtering Arrow tables to partition keys.

A process with ``partitions: {column, grain, start}`` becomes a
:class:`dagster.TimeWindowPartitionsDefinition` whose keys are exactly the keys dpone accepts for
``run(..., partition=key)`` (same format, same window boundaries, UTC); ``partitions: {column,
values}`` becomes a :class:`dagster.StaticPartitionsDefinition`. Key-range partitions
(``ranges``) split a database source for scale-out and have no addressable key, so they get no
Dagster partitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.api import partition_window
from dpone_core.manifest.process import Partitions, Process

# dpone's key formats (dpone_core.runtime.partitions) and the cron tick that starts each window.
KEY_FORMATS = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}
_CRONS = {"hour": "0 * * * *", "day": "0 0 * * *", "month": "0 0 1 * *", "year": "0 0 1 1 *"}


def first_window_start(partitions: Partitions) -> datetime:
    """Start (UTC) of the first partition dpone lists for a time-grain ``partitions`` block.

    >>> first_window_start(Partitions(column="d", grain="month", start="2024-03-15"))
    datetime.datetime(2024, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if partitions.grain is None or partitions.start is None:
        raise ValueError("a time-grain partitions block needs grain and start")
    fmt = KEY_FORMATS[partitions.grain]
    start, _ = partition_window(partitions.grain, datetime.fromisoformat(partitions.start).strftime(fmt))
    return start


def partitions_def_for(process: Process) -> dg.PartitionsDefinition | None:
    """The Dagster partitions definition matching the process's ``partitions`` block (None without one).

    Time windows include the current, still open window (``end_offset=1``), as dpone's own
    ``partition_keys`` does, so the two lists of keys are equal.

    >>> partitions_def_for(process).get_partition_keys()[:2]  # doctest: +SKIP
    ['2024-01-01', '2024-01-02']
    """
    partitions = process.partitions
    if partitions is None or partitions.ranges is not None:
        return None
    if partitions.values is not None:
        return dg.StaticPartitionsDefinition([str(v) for v in partitions.values])
    assert partitions.grain is not None
    if partitions.start is None:
        raise ValueError(
            f"process '{process.name}': partitions.grain {partitions.grain} needs partitions.start to become "
            "Dagster partitions (the first key of a backfill); add start, or override "
            "DponeTranslator.get_partitions_def"
        )
    start = first_window_start(partitions)
    # dpone weeks are ISO weeks: `start` is a Monday (the manifest checks it), and so is every key.
    cron = "0 0 * * 1" if partitions.grain == "week" else _CRONS[partitions.grain]
    return dg.TimeWindowPartitionsDefinition(
        start=start, fmt=KEY_FORMATS[partitions.grain], cron_schedule=cron, timezone="UTC", end_offset=1
    )


def _bound(value: datetime, arrow_type: pa.DataType) -> pa.Scalar:
    if pa.types.is_timestamp(arrow_type):
        naive = value if arrow_type.tz else value.replace(tzinfo=None)
        return pa.scalar(naive, type=arrow_type)
    if pa.types.is_date(arrow_type):
        return pa.scalar(value.date(), type=arrow_type)
    return pa.scalar(value.isoformat()).cast(arrow_type)


def filter_to_partitions(table: pa.Table, partitions: Partitions, keys: Sequence[str]) -> pa.Table:
    """Rows of ``table`` that belong to any of the partition ``keys`` (vectorised, no row loop).

    >>> filter_to_partitions(table, Partitions(column="day", grain="day", start="2024-01-01"),
    ...                      ["2024-01-02"]).num_rows  # doctest: +SKIP
    12
    """
    column = table.column(partitions.column)
    if not keys:
        return table.slice(0, 0)
    if partitions.values is not None:
        mask = pc.is_in(pc.cast(column, pa.string()), value_set=pa.array([str(k) for k in keys]))
    elif partitions.grain is not None:
        mask = None
        for key in keys:
            start, end = partition_window(partitions.grain, key)
            inside = pc.and_(
                pc.greater_equal(column, _bound(start, column.type)), pc.less(column, _bound(end, column.type))
            )
            mask = inside if mask is None else pc.or_(mask, inside)
    else:
        raise ValueError("key-range partitions have no keys to filter by")
    return table.filter(pc.fill_null(mask, False))
