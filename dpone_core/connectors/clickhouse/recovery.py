"""Converging after a killed run: finish a journalled publish, drop leftover staging.

Runs before the process reads its state. It takes the lease (a run that holds it is mid-commit:
then nothing here is touched), finishes every ``publishing`` load of the process by running its
publish again (each step is idempotent, see ``publish.py``) and journalling its commit, and drops
the process's ``stg_`` / ``new_`` tables no publish needs any more.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from dpone_core.connectors.clickhouse.bookkeeping import ABANDONED, COMMITTED, PUBLISHING, JournalEntry
from dpone_core.connectors.clickhouse.lease import holder_id
from dpone_core.connectors.clickhouse.publish import publish, published, ref, table_uuid
from dpone_core.connectors.clickhouse.sink import STAGING_WHERE
from dpone_core.connectors.clickhouse.sql import table
from dpone_core.errors import ConcurrentRunError, DponeError, TerminalError
from dpone_core.model import TableRef

if TYPE_CHECKING:
    from dpone_core.connectors.clickhouse.sink import ClickHouseSink


def recover(sink: ClickHouseSink, process: str) -> list[str]:
    """Finish ``process``'s unfinished publishes and drop its leftovers; returns what was done."""
    if not sink.bookkeeping.exists():
        return []
    if not _anything_left(sink, process):
        return []  # the usual case: nothing to finish or drop, so no lease round trips
    holder = holder_id("recovery")
    try:
        epoch = sink.lease.acquire(process, holder, sink.options.lease_seconds, None)
    except ConcurrentRunError:
        return []  # another run is committing: its tables are not leftovers
    try:
        done = []
        for entry in sink.bookkeeping.pending(process):
            done.append(_finish(sink, entry))
        for name in sink.staging_tables(process):
            sink.client.command(f"DROP TABLE IF EXISTS {table(TableRef(sink.staging_database, name))}")
            done.append(name)
        return done
    finally:
        with contextlib.suppress(DponeError):
            sink.lease.release(process, holder, epoch)


def _anything_left(sink: ClickHouseSink, process: str) -> bool:
    """A journalled publish without its commit, or a staging table of ``process``: one query for both."""
    journal = table(sink.bookkeeping.ref)
    pending, tables = sink.client.rows(
        f"SELECT (SELECT count() FROM {journal} FINAL WHERE process = {{p:String}} AND status = {{s:String}}), "
        f"(SELECT count() FROM system.tables WHERE {STAGING_WHERE})",
        {"p": process, "s": PUBLISHING, **sink.staging_params(process)},
        what="looking for what an interrupted run left",
    )[0]
    return bool(pending or tables)


def _finish(sink: ClickHouseSink, entry: JournalEntry) -> str:
    """Publish and commit ``entry``; abandon it when it never became visible and cannot be rebuilt."""
    plan = entry.plan
    staging = ref(plan["staging"])
    if plan["kind"] in ("swap", "rename") and not published(sink.client, plan) and not table_uuid(sink.client, staging):
        # Its staging is gone (dropped by hand): it cannot be rebuilt, and nothing of it was ever
        # visible, so the state stays where it was and the next load reads its window again.
        sink.bookkeeping.write(entry, ABANDONED)
        return f"load {entry.load_id} (abandoned: its staging table is gone and it was never published)"
    try:
        publish(sink.client, plan, redo=True)
    except DponeError as exc:
        raise TerminalError(
            f"load {entry.load_id} of an interrupted run was journalled but cannot be finished: {exc.message}",
            step="recover",
            fix=f"restore {staging.display()} or see docs/connectors/clickhouse.md (recovery)",
        ) from None
    sink.bookkeeping.write(entry, COMMITTED)
    return f"load {entry.load_id} (published by the next run)"
