"""The reconcile gate: before the commit, the load's window of the source against the target's new version.

A process with ``reconcile:`` runs this after the strategy and before the audit row and state are
recorded (one of :data:`dpone_core.runtime.commit.COMMIT_CHECKS`). The window is what the load read:
the run's cursor and partition predicates, closed above at the cursor value the load commits. The
source side is re-read where it lives (by SQL for a table on Postgres, DuckDB or ClickHouse, else
as Arrow through the connector); the target side is the sink's new version, read by SQL inside its
open finalize (the transaction on Postgres and DuckDB, the built table on ClickHouse, the next
version's files of a Parquet table), so a red verdict rolls back data, audit row and state
together. A sink that publishes only after the checks (a ClickHouse append or partition replace, a
Delta table) hands the load's staged rows instead: they are what its commit will publish, the
verdict says which side was compared, and a red one stops the load before anything is published or
any state moves. A sink that can show neither gets a ``skipped`` verdict that says so.

Rows the contract quarantined are expected to be missing. Target rows outside the source's keys
are ignored for strategies that keep rows the load did not read (merge, append, incremental,
partition_replace without the slice, scd2 history); ``full_refresh`` and ``snapshot_diff`` must
match exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dpone_core.errors import ReconcileFailed
from dpone_core.model import Predicate, ReadRequest
from dpone_core.reconcile import ArrowSide, ReconcileOptions, ReconcileResult, ReconcileSide, SqlFilter, SqlSide
from dpone_core.reconcile import dialect as sql_dialect
from dpone_core.reconcile import reconcile as compare
from dpone_core.runtime.report import GateVerdict
from dpone_core.spi.ports import SqlAccess
from dpone_core.state.cursor import decode_cursor

if TYPE_CHECKING:
    from dpone_core.runtime.commit import Committing

EXACT_STRATEGIES = frozenset({"full_refresh", "snapshot_diff"})
"""Strategies after which the target must equal the source's window (extra target rows are red)."""
OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "==": "="}


def reconcile_gate(now: Committing) -> None:
    """Run the process's ``reconcile:`` check; a red verdict with ``block`` fails the load."""
    prepared = now.prepared
    draft = prepared.draft
    spec = draft.ctx.process.reconcile
    if spec is None:
        return
    log = draft.log
    target = draft.sink.reconcile_access()
    if target is None:
        log.gates.append(
            GateVerdict(
                gate="reconcile",
                rule=spec.mode,
                verdict="skipped",
                detail=f"{draft.sink.describe()} cannot show its new version before its commit; "
                "reconcile it after the run with dpone ops reconcile",
            )
        )
        return
    window = _window(draft.opened.row_filter.predicates, now.state_after)
    process = draft.ctx.process
    source = _source_side(draft.source, window, process.source.columns)
    target_side = SqlSide(
        target.query, target.dialect, target.schema, target.table,
        window=_target_window(target, window, process), name=f"target {draft.sink.describe()}",
    )  # fmt: skip
    quarantined = prepared.quarantine.rows
    verdict, detail, failed_rows = _verdict(spec.mode, source, target_side, process, quarantined, spec.sample)
    if target.scope:
        detail = f"{detail} (target side: {target.scope})"
    log.gates.append(
        GateVerdict(gate="reconcile", rule=spec.mode, verdict=verdict, failed_rows=failed_rows, detail=detail)
    )
    if verdict == "failed" and spec.block:
        raise ReconcileFailed(
            f"reconcile ({spec.mode}) of the load's window: {detail}; nothing was committed",
            step="reconcile",
            fix="compare with dpone ops reconcile, fix the target (a trigger, a concurrent writer) or the source, "
            "then run again",
        )
    if verdict == "failed":
        log.warnings.append(f"reconcile ({spec.mode}) is red but does not block: {detail}")


def _window(predicates: Sequence[Predicate], state_after: dict[str, Any] | None) -> list[Predicate]:
    """The read's predicates, closed above at the cursor value this load commits."""
    window = list(predicates)
    if state_after and state_after.get("cursor_column") and state_after.get("cursor_value"):
        upper = decode_cursor(str(state_after["cursor_value"]))
        if upper is not None:
            window.append(Predicate(str(state_after["cursor_column"]), "<=", upper))
    return window


def _sql_filter(dialect_name: str, window: Sequence[Predicate], extra: Sequence[str] = ()) -> SqlFilter | None:
    d = sql_dialect(dialect_name)
    parts, params = list(extra), {}
    for number, predicate in enumerate(window):
        name = f"rw{number}"
        parts.append(f"{d.quote(predicate.column)} {OPS[predicate.op]} {d.param(name, predicate.value)}")
        params[name] = predicate.value
    return SqlFilter(" AND ".join(parts), params) if parts else None


def _target_window(target: SqlAccess, window: Sequence[Predicate], process: Any) -> SqlFilter | None:
    extra = []
    scd2 = process.sink.scd2
    # Staged rows (a scope) are the load's own rows: no validity columns to select the current ones by.
    if process.sink.strategy == "scd2" and target.scope is None:
        current = scd2.is_current if scd2 is not None else "is_current"
        extra.append(sql_dialect(target.dialect).is_true.format(c=sql_dialect(target.dialect).quote(current)))
    return _sql_filter(target.dialect, window, extra)


def _source_side(source: Any, window: Sequence[Predicate], columns: Sequence[str] | None) -> ReconcileSide:
    access: SqlAccess | None = source.reconcile_access()
    if access is not None:
        return SqlSide(
            access.query, access.dialect, access.schema, access.table,
            window=_sql_filter(access.dialect, window), name=f"source {source.describe()}",
        )  # fmt: skip
    schema = source.read(ReadRequest(columns=tuple(columns) if columns else None, predicates=tuple(window))).schema

    def read(names: Sequence[str], low: int | None, high: int | None) -> Iterable[pa.RecordBatch]:
        return _read_range(source, window, names, low, high, schema)

    return ArrowSide(read, schema, f"source {source.describe()}")


def _read_range(
    source: Any, window: Sequence[Predicate], names: Sequence[str], low: int | None, high: int | None, schema: pa.Schema
) -> Iterable[pa.RecordBatch]:
    """The source's rows in the window (and the key range), filtered again here: a source may push down less."""
    import pyarrow.compute as pc

    key = names[0] if names else None
    bounds = [*window]
    if key is not None and low is not None:
        bounds.append(Predicate(key, ">=", low))
    if key is not None and high is not None:
        bounds.append(Predicate(key, "<", high))
    reader = source.read(ReadRequest(columns=None, predicates=tuple(bounds)))
    for batch in reader:
        mask = None
        for predicate in bounds:
            if predicate.column not in batch.schema.names:
                continue
            op = {">": pc.greater, ">=": pc.greater_equal, "<": pc.less, "<=": pc.less_equal, "==": pc.equal}
            term = op[predicate.op](batch.column(predicate.column), pa.scalar(predicate.value))
            mask = term if mask is None else pc.and_(mask, term)
        kept = batch.filter(pc.fill_null(mask, False)) if mask is not None else batch
        yield kept.select([n for n in names if n in kept.schema.names])


def _verdict(
    mode: str, source: ReconcileSide, target: SqlSide, process: Any, quarantined: int, sample: int
) -> tuple[str, str, int]:
    """(verdict, detail, failed rows) of one reconcile."""
    key = tuple(process.sink.primary_key)
    marker = process.sink.delete_marker
    delete_column = marker.column if marker is not None and marker.mode == "hard" else None
    if mode == "count":
        return _count_verdict(source, target, key, quarantined, process.sink.strategy)
    columns = process.reconcile.columns
    result = compare(source, target, key, columns, delete_column=delete_column, options=ReconcileOptions())
    return _rows_verdict(result, process.sink.strategy, quarantined, sample if mode == "rows" else 0)


def _count_verdict(
    source: ReconcileSide, target: SqlSide, key: tuple[str, ...], quarantined: int, strategy: str
) -> tuple[str, str, int]:
    result = compare(source, target, key, (), options=ReconcileOptions(max_actions=0))
    expected = result.source_rows - quarantined
    detail = f"source {result.source_rows} rows ({quarantined} quarantined), target {result.target_rows}"
    missing = max(result.missing_count - quarantined, 0)
    extra = result.extra_count if strategy in EXACT_STRATEGIES else 0
    if missing or extra or (strategy in EXACT_STRATEGIES and result.target_rows != expected):
        return "failed", f"{detail}: {missing} keys missing, {extra} extra", missing + extra
    return "passed", detail, 0


def _rows_verdict(result: ReconcileResult, strategy: str, quarantined: int, listed: int) -> tuple[str, str, int]:
    missing = max(result.missing_count - quarantined, 0)
    extra = result.extra_count if strategy in EXACT_STRATEGIES else 0
    failed = missing + extra + result.mismatch_count
    detail = (
        f"source {result.source_rows} rows, target {result.target_rows}: {missing} missing"
        f"{f' ({quarantined} more quarantined)' if quarantined else ''}, {extra} extra, "
        f"{result.mismatch_count} differ (checksums {result.source_checksum or '-'} / {result.target_checksum or '-'})"
    )
    if result.mismatched_columns:
        detail += "; columns: " + ", ".join(f"{c} ({n})" for c, n in sorted(result.mismatched_columns.items()))
    if listed and result.actions:
        shown = [f"{a.action} {a.key}" for a in result.actions[:listed]]
        detail += "; " + ", ".join(shown)
    return ("failed" if failed else "passed"), detail, failed
