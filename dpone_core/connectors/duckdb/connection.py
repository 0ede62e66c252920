"""Opening DuckDB files with clear errors (missing extra, file locked by another run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dpone_core.connections.profiles import DuckDBProfile, resolved
from dpone_core.errors import ConcurrentRunError, DponeConnectionError

DEFAULT_MEMORY_LIMIT = "128MB"


def database_path(profile: DuckDBProfile, base_dir: Path) -> Path:
    """Absolute path of the database file (relative paths resolve against the manifest's folder)."""
    path = Path(str(resolved(profile, base_dir)["path"])).expanduser()
    return path if path.is_absolute() else (base_dir / path)


def connect(profile: DuckDBProfile, base_dir: Path, *, read_only: bool = False) -> Any:
    """Open the database; a lock held by another process becomes ConcurrentRunError (retryable)."""
    import duckdb

    path = database_path(profile, base_dir)
    if read_only and not path.exists():
        raise DponeConnectionError(f"DuckDB file {path} does not exist", fix="check connection path")
    path.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {}
    if profile.threads:
        config["threads"] = profile.threads
    # A bounded buffer pool keeps RSS flat as tables grow (staging spills to disk past it).
    config["memory_limit"] = profile.memory_limit or DEFAULT_MEMORY_LIMIT
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
                fix="wait for the other run to finish; DuckDB allows one writer per file",
            ) from None
        raise DponeConnectionError(f"cannot open DuckDB file {path}: {exc}") from None
    # DuckDB draws its own progress bar on a terminal; dpone reports progress itself.
    con.execute("SET enable_progress_bar = false")
    return con
