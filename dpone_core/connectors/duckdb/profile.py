"""The ``duckdb`` connection profile: a database file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from dpone_core.connections.profile import ConnectionProfile, resolved

_MEMORY = r"^\s*\d+(\.\d+)?\s*([KMGT]i?B|B|bytes)?\s*$"
"""A size DuckDB accepts: a number and a unit (KB, MB, GB, TB, their KiB forms, or bytes)."""


class DuckDBProfile(ConnectionProfile):
    """A DuckDB database file (``:memory:`` is refused: state would not survive the run)."""

    type: Literal["duckdb"]
    path: str = Field(description="Database file; a relative path resolves against the manifest's folder.")
    threads: int | None = Field(None, ge=1, description="DuckDB worker threads; default is DuckDB's own.")
    memory_limit: str | None = Field(None, description="DuckDB memory limit such as '1GB' or '512MiB'.")
    lease_wait_seconds: int | None = Field(
        None, ge=1, description="Wait this long for another run's lock on the file; unset: fail fast (already running)."
    )

    @field_validator("path")
    @classmethod
    def _not_memory(cls, value: str) -> str:
        if value.strip() == ":memory:":
            raise ValueError("':memory:' cannot keep state between runs; give a file path")
        if not value.strip():
            raise ValueError("path cannot be empty; give a database file such as warehouse.duckdb")
        return value

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # unset: DuckDB's default
        if not re.match(_MEMORY, value):
            raise ValueError(f"'{value}' is not a size; write a number and a unit such as 512MB, 4GB or 2GiB")
        return value


def database_path(profile: DuckDBProfile, base_dir: Path) -> Path:
    """Absolute path of the database file (relative paths resolve against the manifest's folder)."""
    path = Path(str(resolved(profile, base_dir)["path"])).expanduser()
    return path if path.is_absolute() else (base_dir / path)
