"""Helpers for end-to-end tests that run the real ``dpone`` CLI in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

CLI = [sys.executable, "-m", "dpone_core.cli.main"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``dpone <args>`` and return the finished process."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


def run_json(manifest: Path, *args: str, expect: int = 0) -> dict[str, Any]:
    """Run ``dpone run <manifest> --format json`` and return the parsed report."""
    proc = run_cli("run", str(manifest), "--format", "json", *args)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read from a DuckDB file (read-only, so no lock is left behind)."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def wait_for(path: Path, timeout: float = 60) -> None:
    """Wait until a paused child process has written its marker file."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture()
def project(tmp_path: Path) -> Callable[..., Path]:
    """Write a one-process manifest (files -> duckdb) plus CSV data; returns a factory."""

    def make(csv: str, process: str, name: str = "m.yaml", data: str = "data.csv") -> Path:
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / data).write_text(textwrap.dedent(csv).lstrip(), encoding="utf-8")
        manifest = tmp_path / name
        manifest.write_text(
            "version: 1\n"
            "defaults:\n"
            "  runtime_evidence: {output_dir: evidence}\n"
            "  quarantine: {dir: quarantine}\n"
            "connections:\n"
            "  inbox: {type: files, root: in}\n"
            "  wh: {type: duckdb, path: wh.duckdb}\n"
            "processes:\n" + textwrap.indent(textwrap.dedent(process).lstrip(), "  "),
            encoding="utf-8",
        )
        return manifest

    return make
