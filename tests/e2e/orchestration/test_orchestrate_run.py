"""`dpone orchestrate run` end to end: real processes, real locks, real DuckDB files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orch_project import Project, cli_env, dpone, process, query, write_rows

from dpone_core.orchestration import (
    LocalJobStateStore,
    LocalRunLockManager,
    OrchestratedRunRequest,
    OrchestratedRunService,
)


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s")
        time.sleep(0.05)


def _orchestrate(manifest: Path, run_id: str, *extra: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    result = dpone(
        "orchestrate",
        "run",
        "--manifest",
        manifest.name,
        "--selector",
        "orders",
        "--run-id",
        run_id,
        "--format",
        "json",
        *extra,
        cwd=manifest.parent,
        env=env,
    )
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_two_processes_contend_then_a_kill_9_is_taken_over_and_resumed(project: Project, tmp_path: Path) -> None:
    manifest = project([process("orders", strategy="merge")], rows=500)
    marker = tmp_path / "paused"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dpone_core.cli.main",
            "orchestrate",
            "run",
            "--manifest",
            manifest.name,
            "--selector",
            "orders",
            "--run-id",
            "day1",
            "--format",
            "json",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(
            {"DPONE_TEST_PAUSE_AT": "stage", "DPONE_TEST_PAUSE_FILE": str(marker), "DPONE_TEST_PAUSE_SECONDS": "60"}
        ),
    )
    try:
        _wait_for(marker)
        # 1. A second real process on the same key is refused while the holder runs.
        code, report = _orchestrate(manifest, "day1-other")
        assert code == 1 and report["status"] == "blocked"
        assert [b["code"] for b in report["blockers"]] == ["job_state.already_running"]
        assert report["lock"]["holder"]["pid"] == holder.pid
        state = json.loads((tmp_path / ".dpone/orchestration-state/day1.job_state.json").read_text())
        assert state["status"] == "running" and state["lock"]["pid"] == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)  # 2. the holder dies mid-load, inside its lock
        holder.wait(timeout=30)
    lock_file = tmp_path / ".dpone/locks/pipeline.orders.lock.json"
    assert lock_file.exists()

    # 3. The next run replaces the dead holder's lock at once, but the fail-closed policy stops it.
    code, report = _orchestrate(manifest, "day1")
    assert code == 1 and [b["code"] for b in report["blockers"]] == ["job_state.resume_required"]
    assert f"pid {holder.pid} is gone" in report["lock"]["takeover"]["reason"]
    assert report["job_state"]["status"] == "failed"
    assert "stopped without finishing" in report["job_state"]["transitions"][-1]["reason"]
    assert not lock_file.exists()
    assert (tmp_path / ".dpone/locks/pipeline.orders.takeovers.jsonl").read_text().count("\n") == 1

    # 4. After review, resume commits the load exactly once.
    code, report = _orchestrate(manifest, "day1", "--resume-policy", "resume")
    assert code == 0 and report["status"] == "committed", report
    assert report["job_state"]["attempt"] == 2
    assert query(tmp_path / "wh.duckdb", "SELECT count(*), count(DISTINCT id) FROM main.orders") == [(500, 500)]
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM __dpone__loads") == [(1,)]
    assert (
        (tmp_path / ".dpone/orchestration/day1/orchestrated_run.md")
        .read_text()
        .startswith("# dpone orchestrated run: day1 — committed")
    )


def test_every_resume_policy_on_a_failed_then_committed_run(project: Project, tmp_path: Path) -> None:
    manifest = project([process("orders", path="late/orders.csv", strategy="append")], write_data=False)
    service = OrchestratedRunService(LocalRunLockManager(tmp_path / "locks"), LocalJobStateStore(tmp_path / "state"))

    def run(policy: str) -> object:
        request = OrchestratedRunRequest(str(manifest), "orders", run_id="d1", resume_policy=policy)  # type: ignore[arg-type]
        return service.run(request, tmp_path / "out")

    failed = run("fail")  # the file has not arrived: a terminal error, nothing committed
    assert (failed.status, failed.exit_code) == ("failed", 1)
    assert failed.job_state is not None and failed.job_state["status"] == "failed"
    assert failed.errors and "DPONE_TERMINAL" in failed.errors[0]

    blocked = run("fail")  # default policy: a failed run id needs review
    assert (blocked.status, blocked.exit_code) == ("blocked", 1)
    assert [b.code for b in blocked.blockers] == ["job_state.resume_required"]
    assert blocked.job_state is not None and blocked.job_state["status"] == "failed"

    write_rows(tmp_path / "data/late/orders.csv", 50)
    resumed = run("resume")
    assert (resumed.status, resumed.exit_code) == ("committed", 0)
    assert resumed.job_state is not None and resumed.job_state["attempt"] == 2

    for policy in ("fail", "resume"):  # a committed run id is a no-op (exit 0) unless restarted
        again = run(policy)
        assert (again.status, again.exit_code) == ("skipped", 0)
        assert [b.code for b in again.blockers] == ["job_state.already_committed"]
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM main.orders") == [(50,)]

    restarted = run("restart")  # explicit: the append runs again under the same run id
    assert (restarted.status, restarted.exit_code) == ("committed", 0)
    assert restarted.job_state is not None and restarted.job_state["attempt"] == 3
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM main.orders") == [(100,)]
    statuses = [t["to"] for t in restarted.job_state["transitions"]]
    assert statuses == ["started", "running", "failed", "running", "committed", "running", "committed"]
    document = json.loads((tmp_path / "out/orchestrated_run.json").read_text())
    assert set(document["scheduler_handoff"]) >= {
        "cron_command",
        "kubernetes_cronjob",
        "airflow_dag",
        "dagster_definitions",
    }


def test_a_manifest_error_exits_2_and_touches_no_state(project: Project, tmp_path: Path) -> None:
    manifest = project([process("orders")])
    code, report = _orchestrate(manifest, "d1", "--selector", "ordres")
    assert code == 2 and report["status"] == "failed"
    assert "did you mean 'orders'" in report["errors"][0]
    assert not (tmp_path / ".dpone/orchestration-state").exists()
    assert not list((tmp_path / ".dpone").glob("locks/*.lock.json"))


_WRITER = """
import sys
from dpone_core.orchestration.job_state import LocalJobStateStore
store = LocalJobStateStore(sys.argv[1])
state = store.transition(None, "started", run_id="r")
n = 0
while True:
    n += 1
    state = state.model_copy(update={"run_result": {"n": n, "blob": str(n % 10) * 400_000}})
    store.save(state)
    if n == 3:
        open(sys.argv[2], "w").close()
"""


def test_killing_a_writer_mid_write_leaves_a_whole_state_file(tmp_path: Path) -> None:
    seen: set[int] = set()
    for round_ in range(4):
        marker = tmp_path / f"ready{round_}"
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path / "state"), str(marker)], env=cli_env())
        _wait_for(marker)
        time.sleep(0.01 + 0.05 * round_)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
        state = LocalJobStateStore(tmp_path / "state").load("r")  # parses: never torn
        assert state is not None and state.run_result is not None
        n, blob = state.run_result["n"], state.run_result["blob"]
        assert blob == str(n % 10) * 400_000
        seen.add(n)
    assert min(seen) >= 3
