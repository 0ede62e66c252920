"""Converging after a killed run: finish a journalled publish, drop leftover staging.

Runs before the process reads its state. It takes the lease (a run that holds it is mid-commit:
then nothing here is touched), finishes every ``publishing`` load of the process by running its
publish again (each step is idempotent, see ``publish.py``) and journalling its commit, and drops
the process's ``stg_`` / ``new_`` tables no publish needs any more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpone_core.connectors.clickhouse.bookkeeping import COMMITTED
from dpone_core.connectors.clickhouse.lease import holder_id
from dpone_core.connectors.clickhouse.publish import publish
from dpone_core.connectors.clickhouse.sql import table
from dpone_core.errors import ConcurrentRunError
from dpone_core.model import TableRef

if TYPE_CHECKING:
    from dpone_core.connectors.clickhouse.sink import ClickHouseSink


def recover(sink: ClickHouseSink, process: str) -> list[str]:
    """Finish ``process``'s unfinished publishes and drop its leftovers; returns what was done."""
    if not sink.bookkeeping.exists():
        return []
    holder = holder_id("recovery")
    try:
        epoch = sink.lease.acquire(process, holder, sink.options.lease_seconds, None)
    except ConcurrentRunError:
        return []  # another run is committing: its tables are not leftovers
    try:
        done = []
        for entry in sink.bookkeeping.pending(process):
            publish(sink.client, entry.plan, redo=True)
            sink.bookkeeping.write(entry, COMMITTED)
            done.append(f"load {entry.load_id} (published by the next run)")
        for name in sink.staging_tables(process):
            sink.client.command(f"DROP TABLE IF EXISTS {table(TableRef(sink.staging_database, name))}")
            done.append(name)
        return done
    finally:
        sink.lease.release(process, holder, epoch)
