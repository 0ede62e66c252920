"""CLI pieces that need no server: the progress display and doctor."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from dpone_core.cli.progress import RichProgress
from dpone_core.runtime.progress import ProgressEvent


def test_rich_progress_shows_phase_rows_and_rate() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with RichProgress(console) as progress:
        progress(ProgressEvent("orders", "stage", rows=12345, rows_per_second=6789.0))
        progress.progress.refresh()
        rendered = buffer.getvalue()
    assert "orders" in rendered and "stage" in rendered and "12,345 rows" in rendered and "6,789 rows/s" in rendered


def test_doctor_checks_connections(quickstart: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dpone_core.cli.main", "doctor", "--manifest", str(quickstart)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
    assert "ok  orders: sink warehouse opens" in proc.stdout and "python" in proc.stdout


def test_doctor_reports_a_broken_connection(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nconnections:\n  f: {type: files, root: nowhere}\n  d: {type: duckdb, path: x.duckdb}\n"
        "processes:\n  - name: p\n    source: {connection: f, path: '*.csv', format: csv}\n"
        "    sink: {connection: d, table: t}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "dpone_core.cli.main", "doctor", "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "BAD p: source f:" in proc.stdout and "does not exist" in proc.stdout
    assert "ok  p: sink d opens" in proc.stdout
