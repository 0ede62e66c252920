"""The connectors the conformance suite runs against, as one ``target`` fixture.

Each target is a sink connection (a fresh one per test) plus how to read its rows back. Sources
are CSV files (the ``files`` connector), so what is checked is the sink's side of the protocol:
strategies, counts, audit, state, idempotency, crash and concurrency behaviour. A new connector
joins by adding a target here; strategies it does not support are skipped from its capabilities.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

import dpone_core
from dpone_core.model.capabilities import sink_strategies
from dpone_core.spi import connector
from tests.integration.clickhouse.conftest import PASSWORD_ENV, ChDatabase, ch, ch_server  # noqa: F401 - fixtures
from tests.integration.postgres.conftest import PgDatabase, pg, pg_server  # noqa: F401 - fixtures
from tests.integration.s3.conftest import SECRET_ENV, Bucket, bucket, moto_server  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "dpone_core.cli.main"]


@dataclass
class Target:
    """A sink connection for one test, and the project folder its manifests live in."""

    kind: str
    folder: Path
    profile: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    table_format: str | None = None
    """``sink.format`` of a path-based sink (parquet unless the target names another)."""

    @property
    def strategies(self) -> frozenset[str]:
        """What this connector's sink supports (in its table format)."""
        return sink_strategies(connector(self.kind).capabilities, self.table_format)

    def require(self, strategy: str, *, lookback: bool = False) -> None:
        """Skip a test this connector's sink cannot take."""
        can = connector(self.kind).capabilities
        if strategy not in self.strategies or (lookback and not can.skips_reread_rows):
            pytest.skip(f"the {self.kind} sink does not take {strategy}" + (" with a lookback" if lookback else ""))

    def manifest(self, process: str, csv: str, *, name: str = "m.yaml") -> Path:
        """Write ``in/data.csv`` and a manifest with ``process`` (YAML, connections ``inbox`` -> ``target``)."""
        (self.folder / "in").mkdir(exist_ok=True)
        self.write(csv)
        spec = yaml.safe_load(textwrap.dedent(process))
        if self.table_format is not None:
            spec["sink"].setdefault("format", self.table_format)
        doc = {
            "version": 1,
            "defaults": {"runtime_evidence": {"output_dir": "evidence"}, "quarantine": {"dir": "quarantine"}},
            "connections": {"inbox": {"type": "files", "root": "in"}, "target": self.profile},
            "processes": [spec],
        }
        path = self.folder / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    def write(self, csv: str) -> None:
        """Replace the source file."""
        (self.folder / "in" / "data.csv").write_text(textwrap.dedent(csv).lstrip(), encoding="utf-8")

    def rows(self, manifest: Path, columns: tuple[str, ...] = ("id", "v")) -> list[tuple[Any, ...]]:
        """The target's rows (those columns), sorted."""
        table: pa.Table = dpone_core.read_target(manifest, "p")
        present = [c for c in columns if c in table.column_names]
        return sorted(tuple(row[c] for c in present) for row in table.select(present).to_pylist())

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``dpone <args>`` in a subprocess (exit codes, kills, concurrency)."""
        return subprocess.run(
            [*CLI, *args], capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})}, check=False
        )

    def spawn(self, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
        """``dpone <args>`` started in a subprocess."""
        return subprocess.Popen(
            [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
            env={**os.environ, **env},
        )  # fmt: skip


def run(manifest: Path, **kwargs: Any) -> dpone_core.RunReport:
    """``dpone_core.run`` that must pass."""
    report = dpone_core.run(manifest, **kwargs)
    assert report.passed, report.to_text()
    return report


def counts(report: dpone_core.RunReport) -> tuple[int, int, int]:
    """(inserted, updated, deleted)."""
    r = report.result
    return r.inserted_rows, r.updated_rows, r.deleted_rows


def evidence(report: dpone_core.RunReport) -> dict[str, Any]:
    """The run's evidence JSON."""
    path = next(p for p in report.result.evidence_paths if p.endswith(".json"))
    return dict(json.loads(Path(path).read_text(encoding="utf-8")))


TARGETS = ["clickhouse", "duckdb", "files", "files-delta", "postgres", "s3", "s3-delta"]
"""Sink connectors, and ``<connector>-<format>`` for a path-based sink's other table formats."""


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """One sink connector, fresh for this test."""
    kind, _, table_format = str(request.param).partition("-")
    if table_format == "delta":
        pytest.importorskip("deltalake")
    if kind == "clickhouse":
        database: ChDatabase = request.getfixturevalue("ch")
        yield Target(kind, tmp_path, database.profile(), env={PASSWORD_ENV: os.environ.get(PASSWORD_ENV, "")})
    elif kind == "duckdb":
        yield Target(kind, tmp_path, {"type": "duckdb", "path": "wh.duckdb"})
    elif kind == "files":
        yield Target(kind, tmp_path, {"type": "files", "root": "lake"}, table_format=table_format or "parquet")
    elif kind == "s3":
        lake: Bucket = request.getfixturevalue("bucket")
        env = {SECRET_ENV: os.environ[SECRET_ENV]}
        yield Target(kind, tmp_path, lake.profile(), env=env, table_format=table_format or "parquet")
    else:
        pg_database: PgDatabase = request.getfixturevalue("pg")
        yield Target(kind, tmp_path, pg_database.profile())
