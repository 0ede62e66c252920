"""Small real projects for orchestration tests: CSV files loaded into DuckDB files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import yaml

REPO = Path(__file__).resolve().parents[3]


def write_rows(path: Path, rows: int, *, start_id: int = 1, months: int = 3) -> None:
    """``rows`` rows of id, amount, ts spread over ``months`` months from 2024-01-01."""
    path.parent.mkdir(parents=True, exist_ok=True)
    span = timedelta(days=30 * months)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "amount", "ts"])
        for i in range(rows):
            ts = datetime(2024, 1, 1) + span * i / max(rows, 1)
            writer.writerow([start_id + i, f"{(i * 7) % 1000}.25", ts.strftime("%Y-%m-%dT%H:%M:%S")])


def process(
    name: str,
    *,
    path: str | None = None,
    sink: str = "wh",
    table: str | None = None,
    strategy: str = "full_refresh",
    **extra: Any,
) -> dict[str, Any]:
    """A files -> DuckDB process definition."""
    body: dict[str, Any] = {
        "name": name,
        "source": {"connection": "inbox", "path": path or f"{name}.csv", "format": "csv"},
        "sink": {"connection": sink, "table": table or f"main.{name}", "strategy": strategy},
    }
    if strategy in {"merge"}:
        body["sink"]["primary_key"] = ["id"]
    for key, value in extra.items():
        body[key] = value
    return body


Project = Callable[..., Path]


def project_builder(tmp_path: Path) -> Project:
    """Write a manifest with the given processes (and a CSV per process unless told otherwise)."""

    def build(
        processes: list[dict[str, Any]],
        *,
        rows: int = 200,
        sinks: tuple[str, ...] = ("wh",),
        name: str = "pipeline",
        write_data: bool = True,
    ) -> Path:
        connections: dict[str, Any] = {"inbox": {"type": "files", "root": "data"}}
        for sink in sinks:
            connections[sink] = {"type": "duckdb", "path": f"{sink}.duckdb"}
        if write_data:
            for spec in processes:
                target = tmp_path / "data" / spec["source"]["path"]
                if "*" not in target.name and not target.exists():
                    write_rows(target, rows)
        manifest = tmp_path / f"{name}.yaml"
        manifest.write_text(
            yaml.safe_dump({"version": 1, "connections": connections, "processes": processes}, sort_keys=False)
        )
        return manifest

    return build


def query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` against a DuckDB file (read-only, so it never changes the target)."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def dpone(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "dpone_core.cli.main", *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test environment plus ``extra``, with the repository importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DPONE_TEST_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env
