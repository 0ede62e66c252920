"""Run one ``dpone`` command in a fresh interpreter and report the modules it imported.

Start-up cost is mostly imports, and which heavy modules a command pulls in is a property that can
regress silently; tests pin it with :func:`cli_modules`. A subprocess, because only a fresh
interpreter shows what a command imports on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_RUNNER = """
import json, sys
from dpone_core.cli.main import _invoke
sys.argv = ["dpone", *sys.argv[1:]]
code = _invoke()
sys.stdout.flush()
print("\\n@@modules@@" + json.dumps(sorted(sys.modules)), file=sys.stderr)
raise SystemExit(code)
"""

HEAVY = (
    "pandas",
    "polars",
    "rich",
    "duckdb",
    "sqlalchemy",
    "boto3",
    "deltalake",
    "clickhouse_connect",
    "kafka",
    "openlineage",
    "prometheus_client",
    "opentelemetry",
    "sqlglot",
    "psycopg2",
    "adbc_driver_manager",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.dataset",
    "numpy",
    "dpone_core.gates.contract",
)
"""Modules worth tracking: each costs 10-300 ms to import."""


@dataclass(frozen=True)
class CommandImports:
    """What one command did: its exit code, its standard output, and the heavy modules it imported."""

    returncode: int
    stdout: str
    heavy: frozenset[str]


def cli_modules(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> CommandImports:
    """Run ``dpone ARGS`` in a fresh interpreter; which of :data:`HEAVY` it imported."""
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=False,
    )
    marker = done.stderr.rpartition("@@modules@@")[2]
    assert marker, done.stderr[-2000:]
    modules = set(json.loads(marker))
    return CommandImports(done.returncode, done.stdout, frozenset(m for m in HEAVY if m in modules))
