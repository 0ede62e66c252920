"""Ctrl-C while rows stream into a sink: exit 130, one line, nothing committed, job state ended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import CLI, query, wait_for

ROWS = "id,v\n" + "".join(f"{i},v{i}\n" for i in range(20_000))

DUCKDB = """
- name: p
  source: {connection: inbox, path: data.csv, format: csv, batch_rows: 500}
  sink: {connection: wh, table: t, strategy: full_refresh, primary_key: [id]}
"""
PARQUET = """
- name: p
  source: {connection: inbox, path: data.csv, format: csv, batch_rows: 500}
  sink: {connection: lake, table: t, strategy: full_refresh, format: parquet}
"""


def _interrupt(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Start ``command`` paused while the sink pulls the first batches, SIGINT it, return the result."""
    marker = tmp_path / "paused"
    env = {
        **os.environ,
        "DPONE_TEST_PAUSE_AT": "stream",
        "DPONE_TEST_PAUSE_FILE": str(marker),
        "DPONE_TEST_PAUSE_SECONDS": "3",
    }
    victim = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(marker)
    victim.send_signal(signal.SIGINT)
    out, err = victim.communicate(timeout=60)
    return subprocess.CompletedProcess(command, victim.returncode, out, err)


def _with_lake(manifest: Path) -> Path:
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace("connections:\n", "connections:\n  lake: {type: files, root: lake}\n"))
    return manifest


@pytest.mark.parametrize("process", [DUCKDB, PARQUET], ids=["duckdb-direct", "parquet"])
def test_ctrl_c_during_a_first_load_exits_130_with_one_line(
    project: Callable[..., Path], tmp_path: Path, process: str
) -> None:
    manifest = _with_lake(project(ROWS, process))
    done = _interrupt([*CLI, "run", str(manifest), "--format", "json", "--retry-attempts", "2"], tmp_path)
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "GeneratorExit" not in done.stderr + done.stdout
    report = json.loads(done.stdout)
    assert report["status"] == "interrupted" and report["attempts"] == 1
    assert [e["code"] for e in report["result"]["errors"]] == ["DPONE_INTERRUPTED"]
    if process is DUCKDB:
        db = manifest.parent / "wh.duckdb"
        assert query(db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 't'") == [(0,)]
    else:
        assert not list((manifest.parent / "lake").rglob("t/*.parquet"))


def test_ctrl_c_under_orchestrate_ends_the_job_state_and_writes_the_artifact(
    project: Callable[..., Path], tmp_path: Path
) -> None:
    manifest = project(ROWS, DUCKDB)
    state_dir, out_dir = tmp_path / "state", tmp_path / "out"
    command = [
        *CLI, "orchestrate", "run", "--manifest", str(manifest), "--run-id", "r1",
        "--state-dir", str(state_dir), "--lock-dir", str(tmp_path / "locks"), "--output-dir", str(out_dir),
    ]  # fmt: skip
    done = _interrupt(command, tmp_path)
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    state = json.loads((state_dir / "r1.job_state.json").read_text())
    assert state["status"] == "failed"
    assert "DPONE_INTERRUPTED" in state["transitions"][-1]["reason"]
    artifact = json.loads((out_dir / "orchestrated_run.json").read_text())
    assert artifact["exit_code"] == 130 and artifact["run_result"]["status"] == "interrupted"
