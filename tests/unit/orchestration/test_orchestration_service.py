"""OrchestratedRunService decisions that need no database: blocked runs, dead runs, crashing executors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dpone_core.orchestration import (
    LocalJobStateStore,
    LocalRunLockManager,
    OrchestratedRunRequest,
    OrchestratedRunService,
)
from dpone_core.runtime.progress import ProgressCallback
from dpone_core.runtime.report import RunReport


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "orders.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "connections": {
                    "inbox": {"type": "files", "root": "data"},
                    "wh": {"type": "duckdb", "path": "wh.duckdb"},
                },
                "processes": [
                    {
                        "name": "orders",
                        "source": {"connection": "inbox", "path": "o.csv", "format": "csv"},
                        "sink": {"connection": "wh", "table": "orders"},
                    }
                ],
            }
        )
    )
    return path


def _passing(
    request: OrchestratedRunRequest, run_id: str, restart: bool, on_event: ProgressCallback | None
) -> RunReport:
    return RunReport(passed=True, status="succeeded", process="orders", run_id=run_id)


def _crashing(
    request: OrchestratedRunRequest, run_id: str, restart: bool, on_event: ProgressCallback | None
) -> RunReport:
    raise RuntimeError("executor exploded")


def test_a_run_blocked_by_the_lock_records_started_then_blocked_and_resumes_later(
    tmp_path: Path, manifest: Path
) -> None:
    locks = LocalRunLockManager(tmp_path / "locks")
    service = OrchestratedRunService(locks, LocalJobStateStore(tmp_path / "state"), run_executor=_passing)
    other = locks.acquire("orders", run_id="someone-else")
    blocked = service.run(OrchestratedRunRequest(str(manifest), run_id="d1"), tmp_path / "out")
    assert (blocked.status, blocked.exit_code) == ("blocked", 1)
    assert blocked.job_state is not None and [t["to"] for t in blocked.job_state["transitions"]] == [
        "started",
        "blocked",
    ]
    assert other.handle is not None and other.handle.release()
    still = service.run(OrchestratedRunRequest(str(manifest), run_id="d1"), tmp_path / "out")
    assert [b.code for b in still.blockers] == ["job_state.resume_required"]  # fail-closed
    resumed = service.run(OrchestratedRunRequest(str(manifest), run_id="d1", resume_policy="resume"), tmp_path / "o")
    assert (resumed.status, resumed.exit_code) == ("committed", 0)
    assert json.loads((tmp_path / "o/orchestrated_run.json").read_text())["status"] == "committed"


def test_a_running_state_under_another_live_lock_is_left_alone(tmp_path: Path, manifest: Path) -> None:
    locks = LocalRunLockManager(tmp_path / "locks")
    states = LocalJobStateStore(tmp_path / "state")
    holder = locks.acquire("other-key", run_id="d1")
    assert holder.handle is not None
    state = states.transition(None, "started", run_id="d1", concurrency_key="other-key")
    states.transition(state, "running", lock=holder.handle.owner.to_dict())
    report = OrchestratedRunService(locks, states, run_executor=_passing).run(
        OrchestratedRunRequest(str(manifest), run_id="d1", resume_policy="restart"), tmp_path / "out"
    )
    assert [b.code for b in report.blockers] == ["job_state.already_running"]
    loaded = states.load("d1")
    assert loaded is not None and loaded.status == "running"  # untouched: it is not ours


def test_an_executor_crash_still_ends_the_state_and_releases_the_lock(tmp_path: Path, manifest: Path) -> None:
    locks = LocalRunLockManager(tmp_path / "locks")
    service = OrchestratedRunService(locks, LocalJobStateStore(tmp_path / "state"), run_executor=_crashing)
    report = service.run(OrchestratedRunRequest(str(manifest), run_id="d1"), tmp_path / "out")
    assert (report.status, report.exit_code) == ("failed", 1)
    assert "RuntimeError: executor exploded" in report.errors[0]
    assert report.job_state is not None and report.job_state["status"] == "failed"
    assert locks.inspect("orders") is None and report.lock["acquired"] and not report.lock["lost"]
    assert "job_state.json" in (report.job_state_path or "")


def test_a_repeat_of_a_committed_run_writes_its_own_artifact_beside_the_committed_one(
    tmp_path: Path, manifest: Path
) -> None:
    service = OrchestratedRunService(
        LocalRunLockManager(tmp_path / "locks"), LocalJobStateStore(tmp_path / "state"), run_executor=_passing
    )
    out = tmp_path / "out"
    first = service.run(OrchestratedRunRequest(str(manifest), run_id="d1"), out)
    committed = (out / "orchestrated_run.json").read_bytes()
    again = service.run(OrchestratedRunRequest(str(manifest), run_id="d1"), out)
    assert (first.status, again.status) == ("committed", "skipped")
    assert (out / "orchestrated_run.json").read_bytes() == committed  # the evidence of the commit is unchanged
    repeat = [Path(a) for a in again.artifacts]
    assert [p.parent for p in repeat] == [out, out] and all(p.name.startswith("orchestrated_run__") for p in repeat)
    assert json.loads(repeat[0].read_text())["status"] == "skipped"
