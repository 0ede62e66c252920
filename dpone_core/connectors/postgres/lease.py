"""The finalize lease of a Postgres sink: one committing run per process at a time.

The lease is a transaction advisory lock keyed by the process (and the meta schema): a second run
fails fast with DPONE_ALREADY_RUNNING, or waits ``lease_wait_seconds``. Under the lease the sink
also checks that the process state is still the one this run started from; if another run
committed in between, this run refuses to commit (it read a cursor range that is no longer current).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dpone_core.connectors.postgres.copy_stream import lock_key
from dpone_core.errors import ConcurrentRunError, DponeError
from dpone_core.state.tables import STATE_TABLE

if TYPE_CHECKING:
    from dpone_core.connectors.postgres.sink import PostgresSink


def acquire_lease(sink: PostgresSink, process: str, observed: dict[str, Any]) -> None:
    """Take the lease in the open transaction; ``observed`` maps processes to the load_id first read."""
    key = lock_key("lease", f"{sink.meta_schema or ''}.{process}")
    if sink.lease_wait_seconds:
        sink.execute(f"SET LOCAL lock_timeout = '{int(sink.lease_wait_seconds)}s'")
        try:
            sink.query("SELECT pg_advisory_xact_lock(\x00p)", (key,))
        except DponeError as exc:
            raise _already_running(sink, process, f"waited {sink.lease_wait_seconds}s") from exc
        # The wait bounded the lease only: the rest of the transaction waits on locks as the
        # profile says (lock_timeout_seconds, or the session's default).
        sink.execute("SET LOCAL lock_timeout TO DEFAULT")
    elif not sink.query("SELECT pg_try_advisory_xact_lock(\x00p)", (key,))[0][0]:
        raise _already_running(sink, process, "another run holds its finalize lease")
    if process not in observed:
        return
    table = sink.dialect.table(sink.bookkeeping.table(STATE_TABLE))
    rows = sink.query(f"SELECT load_id FROM {table} WHERE process = \x00p", (process,))
    current = rows[0][0] if rows else None
    if current != observed[process]:
        raise ConcurrentRunError(
            f"process {process} is already running elsewhere: load {current} committed while this run was "
            "loading, so this run's read is stale; nothing was committed",
            step="finalize",
            fix="run again: the next run starts from the new state",
        )


def _already_running(sink: PostgresSink, process: str, detail: str) -> ConcurrentRunError:
    return ConcurrentRunError(
        f"process {process} is already running against {sink.describe()} ({detail}); nothing was committed",
        step="finalize",
        fix="wait for the other run to finish, or set lease_wait_seconds on the connection to wait",
    )
