"""Audit checks: does the table still hold what dpone's committed loads say they wrote, and recently?

``load.row_count`` compares the rows in the target (or the checked slice) with the count the
audit rows imply, where the strategy makes that count exact:

* ``full_refresh``: the newest load's inserted rows;
* ``partition_replace``: the newest load of each partition key (of the one key, when checking a partition);
* ``append``, ``incremental``, ``merge``, ``snapshot_diff``: inserted minus deleted over every
  committed load (a soft delete keeps its row, so nothing is subtracted for it);
* ``scd2`` keeps history rows that no count in the audit table describes: skipped.

A difference means another writer changed the table, or a load was lost; both are worth a red
check. ``load.freshness`` fails when the newest committed load is older than ``max_age``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dpone_core.manifest.process import Process
from dpone_core.runtime.report import GateVerdict

_CUMULATIVE = frozenset({"append", "incremental", "merge", "snapshot_diff"})


def expected_rows(process: Process, loads: Sequence[dict[str, Any]], partition: str | None) -> int | None:
    """Rows the committed ``loads`` (newest first) put in the target or in ``partition``; None when not exact."""
    strategy = process.sink.strategy
    scoped = [load for load in loads if partition is None or load.get("partition_key") == partition]
    if not scoped:
        return None
    if strategy == "full_refresh":
        return int(scoped[0]["rows_inserted"])
    if strategy == "partition_replace":
        newest: dict[str | None, dict[str, Any]] = {}
        for load in scoped:
            newest.setdefault(load.get("partition_key"), load)
        return sum(int(load["rows_inserted"]) for load in newest.values())
    if strategy in _CUMULATIVE:
        soft = process.sink.delete_marker is not None and process.sink.delete_marker.mode == "soft"
        deleted = 0 if soft else sum(int(load["rows_deleted"]) for load in scoped)
        return sum(int(load["rows_inserted"]) for load in scoped) - deleted
    return None


def row_count_verdict(
    process: Process, loads: Sequence[dict[str, Any]], target_rows: int, partition: str | None
) -> GateVerdict:
    """``load.row_count``: the target's rows against what the audit rows imply."""
    if not loads:
        return _skipped("load.row_count", "no committed dpone load of this process in the audit table")
    expected = expected_rows(process, loads, partition)
    if expected is None:
        scope = f"partition {partition}" if partition else "the table"
        reason = (
            "scd2 keeps history rows the audit counts do not describe"
            if process.sink.strategy == "scd2"
            else f"no committed load recorded for {scope}"
        )
        return _skipped("load.row_count", reason)
    if expected == target_rows:
        return GateVerdict(gate="audit", rule="load.row_count", verdict="passed", detail=f"{target_rows} rows")
    return GateVerdict(
        gate="audit",
        rule="load.row_count",
        verdict="failed",
        failed_rows=abs(expected - target_rows),
        detail=f"the target holds {target_rows} rows, the committed loads account for {expected}",
    )


def freshness_verdict(loads: Sequence[dict[str, Any]], max_age_seconds: float | None, now: datetime) -> GateVerdict:
    """``load.freshness``: the newest committed load finished within ``max_age_seconds`` of ``now``."""
    if max_age_seconds is None:
        return _skipped("load.freshness", "no max_age given")
    if not loads:
        return GateVerdict(
            gate="audit", rule="load.freshness", verdict="failed", detail="no committed dpone load of this process"
        )
    finished = _utc(loads[0]["finished_at"])
    age = (now - finished).total_seconds()
    detail = f"last load finished {finished.isoformat()} ({_age(age)} ago, max {_age(max_age_seconds)})"
    verdict = "passed" if age <= max_age_seconds else "failed"
    return GateVerdict(gate="audit", rule="load.freshness", verdict=verdict, detail=detail)


def _utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _age(seconds: float) -> str:
    """``90`` -> ``1m30s``; whole units only, for humans."""
    seconds = int(max(seconds, 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return "".join(parts) + (f"{secs}s" if secs or not any(parts) else "")


def _skipped(rule: str, detail: str) -> GateVerdict:
    return GateVerdict(gate="audit", rule=rule, verdict="skipped", detail=detail)
