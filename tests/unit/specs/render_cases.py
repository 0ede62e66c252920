"""The plans of the rendering spec tests (tests/unit/test_render_specs.py) and the renderers they run in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dpone_core.connectors.duckdb.sql import DuckDBDialect
from dpone_core.connectors.postgres.render import PostgresRenderer
from dpone_core.connectors.postgres.sql import PostgresDialect
from dpone_core.model import TableRef
from dpone_core.strategies.plan import DeleteMarkerSpec, LoadPlan, PartitionSpec, Scd2Spec
from dpone_core.strategies.render import StrategyRenderer

TARGET = TableRef("an", "Orders")
STAGING = TableRef("__dpone_staging", "stg_p__1")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
HARD = DeleteMarkerSpec("gone", "hard")
SOFT = DeleteMarkerSpec("gone", "soft")


def _plan(strategy: str, columns: tuple[str, ...] = ("id", "v"), key: tuple[str, ...] = ("id",), **kw: Any) -> LoadPlan:
    return LoadPlan(strategy, TARGET, STAGING, columns, key, load_time=NOW, **kw)


CASES: dict[str, LoadPlan] = {
    "full_refresh": _plan("full_refresh"),
    "append": _plan("append", key=()),
    "incremental": _plan("incremental", key=()),
    "incremental_keyed": _plan("incremental"),
    "merge": _plan("merge"),
    "merge_key_only": _plan("merge", columns=("id",)),
    "merge_hard_delete": _plan("merge", columns=("id", "v", "gone"), delete_marker=HARD),
    "merge_soft_delete": _plan("merge", columns=("id", "v", "gone"), delete_marker=SOFT),
    "merge_first_load": _plan("merge", target_empty=True),
    "merge_cast": _plan("merge", casts={"v": "mood"}),
    "snapshot_diff": _plan("snapshot_diff"),
    "partition_replace_day": _plan(
        "partition_replace", columns=("id", "day"), key=(), partition=PartitionSpec("day", "day")
    ),
    "partition_replace_value": _plan(
        "partition_replace", columns=("id", "region"), key=(), partition=PartitionSpec("region")
    ),
    "scd2": _plan("scd2", scd2=Scd2Spec()),
    "scd2_deletes": _plan("scd2", columns=("id", "v", "gone"), delete_marker=HARD, scd2=Scd2Spec()),
    "scd2_first_load": _plan("scd2", scd2=Scd2Spec(), target_empty=True),
}

RENDERERS: dict[str, StrategyRenderer] = {
    "duckdb": StrategyRenderer(DuckDBDialect()),
    "postgres": PostgresRenderer(PostgresDialect()),
    "postgres_fast": PostgresRenderer(PostgresDialect(), truncate=True, upsert=True),
}
