"""The commit protocol on every sink connector: run ids, failure, kill -9, concurrency, evidence, audit, state."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import dpone_core
from tests.conformance.conftest import Target, counts, evidence, run

PROCESS = """
name: p
source: {connection: inbox, path: data.csv, format: csv, incremental: {cursor: n}}
sink: {connection: target, table: t, strategy: full_refresh}
schema_contract:
  enforcement: strict
  columns: {id: {type: int64}, v: {type: string, allowed: [a, b, c, d]}, n: {type: int64}}
"""
FIRST = "id,v,n\n1,a,1\n2,b,2\n"
SECOND = "id,v,n\n1,c,3\n2,b,4\n3,d,5\n"


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _snapshot(target: Target, manifest: Path) -> tuple[object, ...]:
    return target.rows(manifest), dpone_core.states(manifest)["p"], len(dpone_core.loads(manifest))


def test_a_committed_run_id_is_not_loaded_again_unless_restarted(target: Target) -> None:
    m = target.manifest(PROCESS, FIRST)
    run(m, run_id="day-1")
    target.write(SECOND)
    again = run(m, run_id="day-1")
    assert again.status == "skipped" and counts(again) == (0, 0, 0)
    assert target.rows(m) == [(1, "a"), (2, "b")] and len(dpone_core.loads(m)) == 1
    restarted = run(m, run_id="day-1", restart=True)
    assert restarted.status == "succeeded" and target.rows(m) == [(1, "c"), (2, "b"), (3, "d")]


def test_a_failed_gate_leaves_target_audit_and_state_as_they_were(target: Target) -> None:
    m = target.manifest(PROCESS, FIRST)
    run(m)
    before = _snapshot(target, m)
    target.write("id,v,n\n1,zz,9\n")
    report = dpone_core.run(m)
    assert not report.passed and report.result.errors[0].code == "DPONE_CONTRACT_VIOLATION"
    assert _snapshot(target, m) == before


def test_state_audit_and_evidence_agree(target: Target) -> None:
    m = target.manifest(PROCESS, FIRST)
    report = run(m, run_id="r1")
    state = dpone_core.states(m)["p"]
    assert state is not None and state["load_id"] == report.load_id and state["run_id"] == "r1"
    assert "2" in str(state["cursor_value"])
    audit = dpone_core.loads(m)
    assert [(a["process"], a["run_id"], a["load_id"]) for a in audit] == [("p", "r1", report.load_id)]
    doc = evidence(report)
    assert doc["load_id"] == report.load_id and doc["counts"]["inserted"] == 2
    assert audit[0]["evidence_sha256"] and len(audit[0]["evidence_sha256"]) == 64


def test_kill_9_inside_the_commit_leaves_the_old_load_and_the_next_run_converges(target: Target) -> None:
    m = target.manifest(PROCESS, FIRST)
    run(m)
    before = _snapshot(target, m)
    target.write(SECOND)
    marker = target.folder / "paused"
    victim = target.spawn(
        "run", str(m), env={**target.env, "DPONE_TEST_PAUSE_AT": "commit", "DPONE_TEST_PAUSE_FILE": str(marker)}
    )
    _wait_for(marker)  # strategy applied, evidence written, audit and state not yet committed
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert _snapshot(target, m) == before
    converged = run(m)
    assert counts(converged)[0] == 3 and target.rows(m) == [(1, "c"), (2, "b"), (3, "d")]
    assert len(dpone_core.loads(m)) == 2


def _race(target: Target, manifest: Path) -> None:
    """Run ``manifest`` twice at once (the first paused inside its finalize): exactly one commits.

    A sink with a lease (a file lock, an advisory lock) turns the second away; a table committed
    by a conditional create lets both write and the later commit lose. Either way the loser ends
    with the retryable DPONE_ALREADY_RUNNING.
    """
    marker = target.folder / "paused"
    env = {"DPONE_TEST_PAUSE_AT": "finalize", "DPONE_TEST_PAUSE_FILE": str(marker), "DPONE_TEST_PAUSE_SECONDS": "3"}
    first = target.spawn("run", str(manifest), "--format", "json", env={**target.env, **env})
    _wait_for(marker)  # the first run is inside its finalize
    second = target.cli("run", str(manifest), "--format", "json", env=target.env)
    out, err = first.communicate(timeout=120)
    outcomes = sorted([(first.returncode, out), (second.returncode, second.stdout)])
    assert [code for code, _ in outcomes] == [0, 1], out + err + second.stdout + second.stderr
    assert json.loads(outcomes[1][1])["result"]["errors"][0]["code"] == "DPONE_ALREADY_RUNNING"


def test_two_concurrent_runs_never_both_commit(target: Target) -> None:
    m = target.manifest(PROCESS, FIRST)
    run(m)
    target.write(SECOND)
    _race(target, m)
    assert len(dpone_core.loads(m)) == 2 and target.rows(m) == [(1, "c"), (2, "b"), (3, "d")]


def test_two_concurrent_first_loads_never_both_commit(target: Target) -> None:
    # No table yet: neither run can have read a version the other's commit changes, so the sink's
    # own exclusion (a lease, a lock, a conditional create of the first version) must decide.
    m = target.manifest(PROCESS.replace("strategy: full_refresh", "strategy: append"), FIRST)
    _race(target, m)
    assert len(dpone_core.loads(m)) == 1 and target.rows(m) == [(1, "a"), (2, "b")]
