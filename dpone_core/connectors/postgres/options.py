"""``source.options`` of the Postgres connector."""

from __future__ import annotations

from pydantic import Field

from dpone_core.model.strict import StrictModel


class PostgresSourceOptions(StrictModel):
    """How a Postgres table is read, beyond its query."""

    parallel_reads: int | None = Field(
        None,
        ge=1,
        le=16,
        description="Read a table source as this many ctid ranges at once, each on its own session, all in one "
        "snapshot (1: one COPY). Default: one range per 64 MiB of the table, at most 4 and one per two CPUs. "
        "Needs Postgres 14+; a view, a query, an xmin read or a refused extra session reads as one COPY.",
    )
