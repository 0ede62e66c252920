"""Comparing a source and a target by key: segment checksums, then the rows of differing segments.

The engine sits beside the gates: it knows no connector. A side is a :class:`ReconcileSide`;
:class:`SqlSide` hashes in Postgres, DuckDB or ClickHouse through any function that runs a query
(a sink's open transaction included), :class:`ArrowSide` hashes a stream of Arrow batches in
Python, :class:`RowsSide` a list of JSON objects. :func:`reconcile` compares two sides and returns
a :class:`ReconcileResult`; :func:`reconcile_rows` is the JSON-rows form.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from dpone_core.reconcile.dialects import DIALECTS, Dialect, dialect
from dpone_core.reconcile.engine import ReconcileOptions, compared, reconcile
from dpone_core.reconcile.result import DELETE, INSERT, UPDATE, ReconcileResult, RepairAction
from dpone_core.reconcile.sides import Compared, FetchedRow, QueryFn, ReconcileSide, SegmentStat, SqlFilter, SqlSide
from dpone_core.reconcile.streamed import ArrowSide, BatchReader, RowsSide
from dpone_core.reconcile.types import ColumnType, arrow_type, merge_types, sql_type


def reconcile_rows(
    source_rows: Sequence[Mapping[str, Any]],
    target_rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    columns: Sequence[str] | None = None,
    *,
    delete_column: str | None = None,
    options: ReconcileOptions | None = None,
) -> ReconcileResult:
    """Compare two lists of JSON objects by ``key`` (the JSON-rows form of ``dpone ops reconcile``)."""
    source, target = RowsSide(source_rows, "source_rows"), RowsSide(target_rows, "target_rows")
    return reconcile(source, target, key, columns, delete_column=delete_column, options=options)


__all__ = [
    "DELETE",
    "DIALECTS",
    "INSERT",
    "UPDATE",
    "ArrowSide",
    "BatchReader",
    "ColumnType",
    "Compared",
    "Dialect",
    "FetchedRow",
    "QueryFn",
    "ReconcileOptions",
    "ReconcileResult",
    "ReconcileSide",
    "RepairAction",
    "RowsSide",
    "SegmentStat",
    "SqlFilter",
    "SqlSide",
    "arrow_type",
    "compared",
    "dialect",
    "merge_types",
    "reconcile",
    "reconcile_rows",
    "sql_type",
]
