"""How ``dpone`` ends: exit codes, flushed output and atexit handlers, with or without a fast exit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dpone_core.cli.progress import terminal_console


def _dpone(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the console entry point with an atexit handler that leaves a file behind."""
    marker = tmp_path / "atexit-ran"
    script = textwrap.dedent(
        f"""
        import atexit, pathlib, sys
        atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text("yes"))
        sys.argv = ["dpone", *{list(args)!r}]
        from dpone_core.cli.main import main
        main()
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    return proc, marker


def test_a_successful_command_flushes_everything_and_runs_atexit_handlers(quickstart: Path, tmp_path: Path) -> None:
    proc, marker = _dpone(tmp_path, "manifest", "schema")
    assert proc.returncode == 0, proc.stderr
    # The whole JSON Schema arrives through the pipe (block-buffered: lost if not flushed).
    assert len(proc.stdout) > 10_000 and json.loads(proc.stdout)["title"]
    assert marker.read_text() == "yes"


def test_a_manifest_error_exits_2_with_its_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nconnections: {}\nprocesses: []\nextra_key: 1\n")
    proc, marker = _dpone(tmp_path, "manifest", "validate", str(bad))
    assert proc.returncode == 2
    assert "extra_key" in proc.stdout + proc.stderr
    assert marker.read_text() == "yes"


def test_a_failed_run_exits_1_and_a_passed_run_0(quickstart: Path, tmp_path: Path) -> None:
    proc, _ = _dpone(tmp_path, "run", str(quickstart), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["passed"] is True
    (quickstart.parent / "data" / "orders.csv").unlink()  # the source is gone: the run fails
    proc, marker = _dpone(tmp_path, "run", str(quickstart), "--format", "json", "--run-id", "second")
    assert proc.returncode == 1, proc.stdout
    assert json.loads(proc.stdout)["passed"] is False
    assert marker.read_text() == "yes"


def test_progress_needs_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert terminal_console() is None
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    console = terminal_console()
    assert console is not None and console.is_terminal
