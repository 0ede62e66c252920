"""``dpone ops recovery-plan`` after a ``kill -9``: what it lists, what ``--apply --yes`` cleans, what stays."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dpone_core
from dpone_core.orchestration.locks import process_start_marker
from tests.e2e.conftest import CLI, run_cli, wait_for

ONE = """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: merge, primary_key: [id]}
  schema_contract:
    enforcement: quarantine
    columns:
      id: {type: int64, min: 0}
"""


def _plan(folder: Path, manifest: Path | None, *extra: str, expect: int) -> dict[str, Any]:
    args = ["ops", "recovery-plan", "--state-dir", str(folder / "st"), "--lock-dir", str(folder / "locks")]
    args += ["--manifest", str(manifest)] if manifest else []
    done = run_cli(*args, *extra, "--format", "json")
    assert done.returncode == expect, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    plan: dict[str, Any] = json.loads(done.stdout)
    return plan


def _killed_orchestrated_run(manifest: Path, folder: Path) -> None:
    """``dpone orchestrate run`` of a second load, paused inside its finalize and SIGKILLed there."""
    marker = folder / "paused"
    env = {**os.environ, "DPONE_TEST_PAUSE_AT": "finalize", "DPONE_TEST_PAUSE_FILE": str(marker)}
    command = [
        *CLI, "orchestrate", "run", "--manifest", str(manifest), "--run-id", "r2",
        "--state-dir", str(folder / "st"), "--lock-dir", str(folder / "locks"),
    ]  # fmt: skip
    victim = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(marker)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL


def test_plan_after_kill_9_then_apply_then_resume(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project("id,v\n1,a\n2,b\n", ONE)
    assert dpone_core.run(manifest, run_id="r1").passed
    (tmp_path / "in" / "data.csv").write_text("id,v\n1,a2\n2,b\n-3,c\n4,d\n")
    _killed_orchestrated_run(manifest, tmp_path)

    plan = _plan(tmp_path, manifest, "--output-dir", str(tmp_path / "rec"), expect=1)
    by_action = {a["action"]: a for a in plan["actions"]}
    assert set(by_action) == {
        "resume_run",
        "inspect_or_cleanup_lock",
        "drop_orphan_staging",
        "remove_uncommitted_quarantine",
    }
    assert (
        by_action["inspect_or_cleanup_lock"]["safe"] and "stale: pid" in by_action["inspect_or_cleanup_lock"]["detail"]
    )
    assert by_action["drop_orphan_staging"]["items"][0].startswith("stg_p__")
    assert not by_action["resume_run"]["safe"] and "--resume-policy resume" in by_action["resume_run"]["command"]
    assert len(plan["blockers"]) == 4 and plan["applied"] == []
    staging = tmp_path / "wh.duckdb.dpone_staging"
    quarantined = Path(by_action["remove_uncommitted_quarantine"]["items"][0])
    assert any(staging.iterdir()) and quarantined.is_file()  # the plan changed nothing
    assert (tmp_path / "locks" / "m.lock.json").is_file()
    assert (tmp_path / "rec" / "recovery_plan.json").is_file() and (tmp_path / "rec" / "recovery_plan.md").is_file()

    refused = run_cli("ops", "recovery-plan", "--manifest", str(manifest), "--apply")
    assert refused.returncode == 2 and "--yes" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert any(staging.iterdir())

    applied = _plan(tmp_path, manifest, "--apply", "--yes", expect=1)
    assert sorted(a["action"] for a in applied["applied"]) == [
        "drop_orphan_staging", "inspect_or_cleanup_lock", "remove_uncommitted_quarantine",
    ]  # fmt: skip
    assert [a["action"] for a in applied["actions"]] == ["resume_run"]  # for a person to decide
    assert not any(staging.iterdir()) and not quarantined.exists()
    assert not (tmp_path / "locks" / "m.lock.json").exists()
    assert (tmp_path / "locks" / "m.takeovers.jsonl").read_text().count("\n") == 1

    command = shlex.split(applied["actions"][0]["command"])[1:]
    resumed = run_cli(*command, "--format", "json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads(resumed.stdout)["run_result"]["result"]["quarantined_rows"] == 1
    assert not any("interrupted run" in w for w in json.loads(resumed.stdout)["run_result"]["result"]["warnings"])
    assert _plan(tmp_path, manifest, expect=0)["actions"] == []


def test_plan_after_a_killed_plain_run_lists_its_staging(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project("id,v\n1,a\n", ONE)
    assert dpone_core.run(manifest, run_id="r1").passed
    (tmp_path / "in" / "data.csv").write_text("id,v\n1,b\n")
    marker = tmp_path / "paused"
    env = {**os.environ, "DPONE_TEST_PAUSE_AT": "stage", "DPONE_TEST_PAUSE_FILE": str(marker)}
    victim = subprocess.Popen([*CLI, "run", str(manifest)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(marker)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    plan = _plan(tmp_path, manifest, expect=1)
    assert [a["action"] for a in plan["actions"]] == ["drop_orphan_staging"]
    assert _plan(tmp_path, manifest, "--apply", "--yes", expect=0)["actions"] == []
    report = dpone_core.run(manifest, run_id="r2")
    assert report.passed and report.result.updated_rows == 1 and report.result.warnings == []


def test_a_live_lock_is_listed_and_never_removed(tmp_path: Path) -> None:
    now = datetime.now(UTC).isoformat()
    lock = tmp_path / "locks" / "orders.lock.json"
    lock.parent.mkdir()
    record = {
        "key": "orders", "token": "t", "host": socket.gethostname(), "pid": os.getpid(),
        "pid_start": process_start_marker(os.getpid()), "run_id": "live", "started_at": now,
        "heartbeat_at": now, "ttl_seconds": 600, "replaced": None,
    }  # fmt: skip
    lock.write_text(json.dumps(record))
    plan = _plan(tmp_path, None, "--apply", "--yes", expect=1)
    assert plan["applied"] == [] and [a["safe"] for a in plan["actions"]] == [False]
    assert plan["actions"][0]["detail"].startswith("live: held by pid")
    assert json.loads(lock.read_text()) == record


def test_failed_job_state_needs_a_resume_and_bad_input_exits_2(project: Callable[..., Path], tmp_path: Path) -> None:
    assert _plan(tmp_path, None, expect=0)["actions"] == []  # no folders at all: nothing to recover
    manifest = project("id,v\n-1,a\n", ONE.replace("quarantine", "strict"))
    failed = run_cli(
        "orchestrate", "run", "--manifest", str(manifest), "--run-id", "f1",
        "--state-dir", str(tmp_path / "st"), "--lock-dir", str(tmp_path / "locks"),
    )  # fmt: skip
    assert failed.returncode == 1
    plan = _plan(tmp_path, manifest, expect=1)
    assert [(a["action"], a["subject"]) for a in plan["actions"]] == [("resume_run", "f1")]
    assert "job state failed" in plan["actions"][0]["detail"]
    bad = run_cli("ops", "recovery-plan", "--manifest", str(tmp_path / "absent.yaml"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


CHUNKED = """
- name: sales
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: sales, strategy: merge, primary_key: [id]}
  partitions: {column: region, values: [eu, us], chunk_dir: chunks}
"""


def test_parked_chunks_are_listed_finalized_by_hand_and_committed_ones_dropped(
    project: Callable[..., Path], tmp_path: Path
) -> None:
    manifest = project("id,region\n1,eu\n2,us\n3,eu\n", CHUNKED)
    for key in ("eu", "us"):
        assert run_cli("run", str(manifest), "--run-id", "c1", "--phase", "extract", "--partition", key).returncode == 0
    plan = _plan(tmp_path, manifest, expect=1)
    [action] = [a for a in plan["actions"] if a["action"] == "finalize_chunks"]
    assert not action["safe"] and "run c1 parked 2 chunks and never committed" in action["detail"]
    assert action["command"].endswith("-s sales --phase finalize --run-id c1")
    applied = _plan(tmp_path, manifest, "--apply", "--yes", expect=1)  # not safe: the chunks stay
    assert (manifest.parent / "chunks" / "sales" / "c1" / "eu.arrow").exists(), applied

    # The finalize commits, then (as if killed before its clean-up) the chunks are back on disk.
    parked = manifest.parent / "chunks" / "sales" / "c1"
    kept = {p.name: p.read_bytes() for p in parked.iterdir()}
    assert run_cli("run", str(manifest), "--run-id", "c1", "--phase", "finalize").returncode == 0
    parked.mkdir(parents=True, exist_ok=True)
    for name, data in kept.items():
        (parked / name).write_bytes(data)
    plan = _plan(tmp_path, manifest, expect=1)
    [action] = [a for a in plan["actions"] if a["action"] == "drop_committed_chunks"]
    assert action["safe"] and "run c1 committed" in action["detail"]
    _plan(tmp_path, manifest, "--apply", "--yes", expect=0)
    assert not parked.exists()
