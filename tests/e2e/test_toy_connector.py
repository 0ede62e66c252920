"""A connector from another distribution (tests/toy_connector), found through the dpone.connectors entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import dpone_core
from tests.e2e.conftest import query

pytestmark = pytest.mark.skipif(
    not any(ep.name == "toy" for ep in entry_points(group="dpone.connectors")),
    reason="the toy connector is not installed (scripts/test installs tests/toy_connector)",
)

MANIFEST = """
version: 1
connections:
  gen: {{type: toy, rows: {rows}{extra}}}
  wh: {{type: duckdb, path: wh.duckdb}}
processes:
  - name: words
    source: {{connection: gen, table: rows, batch_rows: 7}}
    sink: {{connection: wh, table: words, strategy: merge, primary_key: [id]}}
    schema_contract:
      enforcement: quarantine
      columns: {{word: {{type: string, allowed: [alpha, beta, gamma]}}}}
"""


def _manifest(tmp_path: Path, rows: int, extra: str = "") -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST.format(rows=rows, extra=extra), encoding="utf-8")
    return path


def test_a_load_runs_through_a_connector_installed_from_elsewhere(tmp_path: Path) -> None:
    report = dpone_core.run(_manifest(tmp_path, 40))
    assert report.passed, report.to_text()
    assert (report.result.inserted_rows, report.result.quarantined_rows) == (30, 10)  # every 4th word is delta
    assert report.result.source == "toy:40 rows"
    assert query(tmp_path / "wh.duckdb", "SELECT count(*), max(id) FROM words") == [(30, 38)]
    assert dpone_core.run(_manifest(tmp_path, 40), restart=True).result.updated_rows == 0  # merge: nothing changed


def test_doctor_lists_the_installed_connector(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dpone_core.cli.main", "doctor", "--manifest", str(_manifest(tmp_path, 3))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "toy source of generated rows" in done.stdout, done.stdout
    assert "ok  words: source gen opens" in done.stdout


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "dpone.log"
    done = subprocess.run(
        [sys.executable, "-m", "dpone_core.cli.main", "run", str(_manifest(tmp_path, 40, ", fail_after: 14"))],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DPONE_LOG_FILE": str(log)},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[DPONE_INTERNAL]" in done.stdout and "DPONE_LOG_FILE" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert "error: unexpected error in words" in done.stderr
    assert "Traceback" in log.read_text() and "the toy source was told to fail" in log.read_text()
    assert not (tmp_path / "wh.duckdb").exists() or query(
        tmp_path / "wh.duckdb", "SELECT count(*) FROM information_schema.tables WHERE table_name = 'words'"
    ) == [(0,)]
