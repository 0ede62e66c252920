"""Opening DuckDB files with clear errors (missing extra, file locked by another run, out of memory).

Memory: dpone leaves DuckDB's own ``memory_limit`` (80% of RAM) in place unless the profile sets
one, and points ``temp_directory`` beside the database file, so sorts, joins and staging spill to
disk instead of failing. A fixed small limit did not keep loads flat: a primary-key index must be
held in memory while a load writes it, and a second full_refresh of 2M rows failed under 128MB.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dpone_core.connectors.duckdb.profile import DuckDBProfile, database_path
from dpone_core.errors import ConcurrentRunError, DponeConnectionError, OutOfMemory

_FIRST_RETRY_SECONDS = 0.05
_MAX_RETRY_SECONDS = 1.0


def connect(profile: DuckDBProfile, base_dir: Path, *, read_only: bool = False) -> Any:
    """Open the database; a lock held by another process becomes ConcurrentRunError (retryable).

    With ``lease_wait_seconds`` a locked file is tried again with a short, growing pause until that
    many seconds have passed: DuckDB has no lock queue, so waiting means retrying the open.
    """
    wait = profile.lease_wait_seconds
    deadline = time.monotonic() + wait if wait else None
    pause = _FIRST_RETRY_SECONDS
    while True:
        try:
            return _connect_once(profile, base_dir, read_only=read_only)
        except ConcurrentRunError as exc:
            if deadline is None:
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConcurrentRunError(
                    f"{exc.message} after waiting lease_wait_seconds={wait}",
                    fix="raise lease_wait_seconds on the DuckDB connection, or run the writers one after another",
                ) from None
            time.sleep(min(pause, left))
            pause = min(pause * 2, _MAX_RETRY_SECONDS)


def _connect_once(profile: DuckDBProfile, base_dir: Path, *, read_only: bool) -> Any:
    import duckdb

    path = database_path(profile, base_dir)
    if read_only and not path.exists():
        raise DponeConnectionError(f"DuckDB file {path} does not exist", fix="check connection path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DponeConnectionError(
            f"cannot create the folder of DuckDB file {path}: {exc.strerror}", fix="check the connection's path"
        ) from None
    config: dict[str, Any] = {}
    if profile.threads:
        config["threads"] = profile.threads
    if profile.memory_limit:
        config["memory_limit"] = profile.memory_limit
    config["temp_directory"] = str(path.with_name(path.name + ".tmp"))
    try:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.ConnectionException:
            if not read_only:
                raise
            # This process already has the file open for writing (a sensor polling beside a load
            # in one worker): share that database instance instead of a read-only one.
            con = duckdb.connect(str(path), config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise ConcurrentRunError(
                f"DuckDB file {path} is locked by another process (another run is writing it)",
                fix="wait for the other run to finish, or set lease_wait_seconds on the connection to wait; "
                "DuckDB allows one writer per file",
            ) from None
        raise DponeConnectionError(f"cannot open DuckDB file {path}: {exc}") from None
    # DuckDB draws its own progress bar on a terminal; dpone reports progress itself.
    con.execute("SET enable_progress_bar = false")
    return con


def out_of_memory(exc: Exception, memory_limit: str | None, step: str) -> OutOfMemory | None:
    """The one-line error for DuckDB running out of memory (also when it fails a COMMIT that way)."""
    import duckdb

    text = str(exc)
    if not isinstance(exc, duckdb.OutOfMemoryException) and "could not allocate" not in text.lower():
        return None
    limit = f"memory_limit {memory_limit}" if memory_limit else "DuckDB's default memory_limit (80% of RAM)"
    return OutOfMemory(
        f"DuckDB ran out of memory under {limit}: {text.splitlines()[0]}",
        step=step,
        fix="raise memory_limit in the DuckDB connection (e.g. memory_limit: 4GB), or remove it to use DuckDB's "
        "default; a primary-key index must fit in memory while it is written",
    )
