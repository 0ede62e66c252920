"""LocalJobStateStore: allowed transitions, durable JSON, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dpone_core.orchestration.job_state import ALLOWED_TRANSITIONS, InvalidTransition, LocalJobStateStore


def test_full_lifecycle_is_recorded_in_order(tmp_path: Path) -> None:
    store = LocalJobStateStore(tmp_path)
    state = store.transition(None, "started", run_id="orders_20260605", concurrency_key="orders")
    state = store.transition(state, "running", attempt=1, reason="lock acquired")
    state = store.transition(state, "failed", reason="boom")
    state = store.transition(state, "running", attempt=2, reason="resume")
    state = store.transition(state, "committed", run_result={"passed": True})
    loaded = store.load("orders_20260605")
    assert loaded == state
    assert [(t.from_status, t.to_status) for t in loaded.transitions] == [
        (None, "started"),
        ("started", "running"),
        ("running", "failed"),
        ("failed", "running"),
        ("running", "committed"),
    ]
    assert loaded.attempt == 2 and loaded.concurrency_key == "orders" and not loaded.resumable
    document = json.loads(store.path("orders_20260605").read_text())
    assert document["transitions"][0]["from"] is None and document["status"] == "committed"


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ((), "running"),
        (("started",), "committed"),
        (("started", "running"), "blocked"),
        (("started", "blocked"), "committed"),
        (("started", "running", "committed"), "failed"),
    ],
)
def test_transitions_outside_the_lifecycle_are_refused(tmp_path: Path, path: tuple[str, ...], bad: str) -> None:
    store = LocalJobStateStore(tmp_path)
    state = None
    for status in path:
        state = store.transition(state, status, run_id="r")  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition):
        store.transition(state, bad, run_id="r")  # type: ignore[arg-type]


def test_every_status_has_a_way_forward_except_through_running() -> None:
    assert ALLOWED_TRANSITIONS["failed"] == {"running"} and ALLOWED_TRANSITIONS["blocked"] == {"running"}
    assert ALLOWED_TRANSITIONS["committed"] == {"running"}  # only an explicit restart


def test_blockers_are_added_without_changing_the_status(tmp_path: Path) -> None:
    store = LocalJobStateStore(tmp_path)
    state = store.transition(store.transition(None, "started", run_id="r"), "running")
    state = store.transition(state, "failed")
    state = store.add_blocker(state, "job_state.resume_required", "review first")
    loaded = store.load("r")
    assert loaded is not None and loaded.status == "failed" and loaded.resumable
    assert [b.code for b in loaded.blockers] == ["job_state.resume_required"]


def test_writes_leave_no_temp_files_and_unknown_run_ids_load_as_none(tmp_path: Path) -> None:
    store = LocalJobStateStore(tmp_path)
    assert store.load("nope") is None
    state = store.transition(None, "started", run_id="../../etc/passwd")
    for _ in range(5):
        state = store.add_blocker(state, "x", "y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc_passwd.job_state.json"]
