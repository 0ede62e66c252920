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


def test_a_connectors_own_options_are_validated_and_used(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, 4)
    text = manifest.read_text().replace("batch_rows: 7}", "batch_rows: 7, options: {uppercase: true}}")
    manifest.write_text(text.replace("allowed: [alpha, beta, gamma]", "allowed: [ALPHA, BETA, GAMMA, DELTA]"))
    report = dpone_core.run(manifest)
    assert report.passed and report.result.inserted_rows == 4, report.to_text()
    assert query(tmp_path / "wh.duckdb", "SELECT word FROM words ORDER BY id LIMIT 1") == [("ALPHA",)]
    manifest.write_text(text.replace("uppercase: true", "upper_case: true"))
    unknown_key = r"source\.options: unknown key 'upper_case'; did you mean 'uppercase'"
    with pytest.raises(dpone_core.ManifestError, match=unknown_key):
        dpone_core.validate(manifest)
    foreign_option = text.replace("strategy: merge,", "strategy: merge, options: {engine: x},")
    manifest.write_text(foreign_option)
    with pytest.raises(dpone_core.ManifestError, match="the duckdb connector takes no sink options of its own"):
        dpone_core.validate(manifest)
