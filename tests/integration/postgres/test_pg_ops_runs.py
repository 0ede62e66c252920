"""``dpone ops runs``, ``run-registry``, ``run-report`` and ``recovery-plan`` against a real Postgres."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import REPO, PgDatabase, run_ok, spawn_cli, wait_for_pause

CLI = [sys.executable, "-m", "dpone_core.cli.main"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=REPO, timeout=120, check=False)


def _manifest(pg: PgDatabase, rows: str) -> Path:
    (pg.folder / "in").mkdir(exist_ok=True)
    (pg.folder / "in" / "data.csv").write_text(rows, encoding="utf-8")
    contract = {"enforcement": "quarantine", "columns": {"id": {"type": "int64", "min": 0}}}
    common: dict[str, Any] = {
        "source": {"connection": "inbox", "path": "data.csv", "format": "csv"},
        "schema_contract": contract,
        "runtime_evidence": {"output_dir": "evidence"},
        "quarantine": {"dir": "quarantine"},
    }
    processes = [
        {
            "name": "p",
            **common,
            "sink": {"connection": "pg", "table": "public.dst", "strategy": "merge", "primary_key": ["id"]},
        },
        {"name": "q", **common, "sink": {"connection": "pg", "table": "public.dst2", "strategy": "full_refresh"}},
    ]
    return pg.manifest(processes, {"inbox": {"type": "files", "root": "in"}})


def _json(done: subprocess.CompletedProcess[str], expect: int) -> dict[str, Any]:
    assert done.returncode == expect, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def test_pg_runs_registry_and_report_hold_no_secret(pg: PgDatabase) -> None:
    manifest = _manifest(pg, "id,v\n1,a\n2,b\n-3,c\n")
    for run_id in ("r1", "r2"):
        for name in ("p", "q"):
            run_ok(manifest, selector=name, run_id=run_id)
    listing = _json(_cli("ops", "runs", str(manifest), "--format", "json", "--output-dir", str(pg.folder / "runs")), 0)
    assert sorted((r["process"], r["run_id"]) for r in listing["runs"]) == [
        ("p", "r1"), ("p", "r2"), ("q", "r1"), ("q", "r2"),
    ]  # fmt: skip
    assert all(r["target"].startswith("postgres:") and r["status"] == "committed" for r in listing["runs"])
    only = _json(_cli("ops", "runs", str(manifest), "-s", "p", "--since", "1h", "--format", "json"), 0)
    assert [r["run_id"] for r in only["runs"]] == ["r2", "r1"]

    out = pg.folder / "report"
    report = _json(
        _cli("run-report", str(manifest), "-s", "p", "--run-id", "r1", "--output-dir", str(out), "--format", "json"), 0
    )
    assert report["run_id"] == "r1" and report["result"]["quarantined_rows"] == 1
    registry = ["ops", "run-registry", "--run-result", str(out / "r1__run_result.json"), "--format", "json"]
    entry = _json(_cli(*registry, "--output-dir", str(pg.folder / "reg")), 0)
    assert {a["status"] for a in entry["registered_artifacts"]} == {"ok"}
    written = [p for p in pg.folder.rglob("*") if p.is_file() and p.suffix in (".json", ".md")]
    assert len(written) >= 8
    for path in written:
        assert pg.server.password not in path.read_text(encoding="utf-8"), path


def _paused_kill(manifest: Path, folder: Path) -> None:
    marker = folder / "paused"
    proc = spawn_cli(manifest, "-s", "p", env={"DPONE_TEST_PAUSE_AT": "finalize", "DPONE_TEST_PAUSE_FILE": str(marker)})
    wait_for_pause(marker, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_pg_recovery_plan_after_kill_9(pg: PgDatabase) -> None:
    manifest = _manifest(pg, "id,v\n1,a\n")
    run_ok(manifest, selector="p", run_id="r1")
    (pg.folder / "in" / "data.csv").write_text("id,v\n1,b\n-5,x\n2,c\n")
    _paused_kill(manifest, pg.folder)
    assert pg.staging_tables()

    args = ["ops", "recovery-plan", "--manifest", str(manifest), "--state-dir", str(pg.folder / "st"),
            "--lock-dir", str(pg.folder / "locks"), "--format", "json"]  # fmt: skip
    plan = _json(_cli(*args), 1)
    actions = {a["action"]: a for a in plan["actions"]}
    assert actions["drop_orphan_staging"]["items"] == pg.staging_tables()
    quarantine = actions["remove_uncommitted_quarantine"]
    assert not quarantine["safe"] and "concurrent runs" in quarantine["detail"]  # Postgres lets runs overlap

    deadline = time.monotonic() + 20
    while pg.staging_tables():  # the server ends the killed session (and its advisory lock) shortly
        assert time.monotonic() < deadline, "the killed run's staging was never dropped"
        _cli(*args, "--apply", "--yes")
        time.sleep(0.2)
    after = _json(_cli(*args), 1)
    assert [a["action"] for a in after["actions"]] == ["remove_uncommitted_quarantine"]
    assert Path(quarantine["items"][0]).is_file()  # left for a person

    report = run_ok(manifest, selector="p", run_id="r2")
    assert (report.result.inserted_rows, report.result.updated_rows) == (1, 1)
    os.remove(quarantine["items"][0])
    assert _json(_cli(*args), 0)["actions"] == []
