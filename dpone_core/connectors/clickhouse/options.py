"""``sink.options`` of a ClickHouse sink: the table's layout, insert sizes and the lease."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dpone_core.model.strict import StrictModel


class ClickHouseSinkOptions(StrictModel):
    """How dpone creates and fills a ClickHouse table."""

    engine: str = Field(
        "MergeTree",
        description="Engine of tables dpone creates (a MergeTree-family engine, e.g. ReplicatedMergeTree).",
    )
    order_by: list[str] | None = Field(None, description="ORDER BY of a created table; default: the primary key.")
    partition_by: str | None = Field(
        None, description="Column whose values (or time slices, with partition_grain) form the PARTITION BY."
    )
    partition_grain: Literal["hour", "day", "week", "month", "year"] | None = Field(
        None, description="With partition_by on a date/time column: one partition per hour, day, ... month."
    )
    insert_rows: int = Field(
        500_000,
        ge=1_000,
        description="Rows per insert: batches are coalesced up to this (ClickHouse wants big inserts).",
    )
    insert_bytes: int = Field(
        128 << 20, ge=1 << 20, description="Bytes per insert (Arrow IPC): a chunk is sent when either limit is hit."
    )
    publish_chunk_rows: int = Field(
        1_000_000, ge=1_000, description="Rows per INSERT ... SELECT of an append publish (each with its own token)."
    )
    lease_seconds: int = Field(3600, ge=10, description="A run's finalize lease expires after this (a killed run).")
    lease_wait_seconds: int | None = Field(
        None, ge=1, description="Wait this long for another run's lease; unset: fail fast (already running)."
    )
