"""LocalRunLockManager: exclusive creation, owner metadata, heartbeat, TTL, stale takeover."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dpone_core.orchestration.locks import LocalRunLockManager, process_alive, process_start_marker


def _write_foreign_lock(manager: LocalRunLockManager, key: str, *, age_seconds: float, host: str = "elsewhere") -> Path:
    path = manager.lock_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    beat = (datetime.now(UTC) - timedelta(seconds=age_seconds)).isoformat()
    path.write_text(
        json.dumps(
            {
                "key": key,
                "token": "foreign",
                "host": host,
                "pid": 1,
                "pid_start": None,
                "run_id": "r0",
                "started_at": beat,
                "heartbeat_at": beat,
                "ttl_seconds": 60,
            }
        )
    )
    return path


def test_first_acquire_writes_owner_metadata_and_release_removes_it(tmp_path: Path) -> None:
    manager = LocalRunLockManager(tmp_path, ttl_seconds=60)
    attempt = manager.acquire("orders daily/x", run_id="r1")
    assert attempt.acquired and attempt.handle is not None
    record = json.loads(manager.lock_path("orders daily/x").read_text())
    assert manager.lock_path("orders daily/x").name == "orders_daily_x.lock.json"
    assert {k: record[k] for k in ("key", "run_id", "ttl_seconds")} == {
        "key": "orders daily/x",
        "run_id": "r1",
        "ttl_seconds": 60.0,
    }
    assert record["host"] and record["pid"] > 0 and record["heartbeat_at"] == record["started_at"]
    assert attempt.handle.release() is True
    assert not manager.lock_path("orders daily/x").exists()


def test_second_acquire_of_a_live_lock_reports_the_holder(tmp_path: Path) -> None:
    manager = LocalRunLockManager(tmp_path, ttl_seconds=60)
    first = manager.acquire("k", run_id="r1")
    second = manager.acquire("k", run_id="r2")
    assert first.acquired and not second.acquired
    assert second.holder is not None and second.holder["run_id"] == "r1"
    assert first.handle is not None and first.handle.release()
    assert manager.acquire("k", run_id="r3").acquired


def test_foreign_lock_with_fresh_heartbeat_is_respected(tmp_path: Path) -> None:
    manager = LocalRunLockManager(tmp_path, ttl_seconds=60)
    _write_foreign_lock(manager, "k", age_seconds=5)
    attempt = manager.acquire("k")
    assert not attempt.acquired and attempt.holder is not None and attempt.holder["host"] == "elsewhere"


def test_foreign_lock_past_its_ttl_is_replaced_with_a_takeover_record(tmp_path: Path) -> None:
    manager = LocalRunLockManager(tmp_path, ttl_seconds=60)
    _write_foreign_lock(manager, "k", age_seconds=120)
    attempt = manager.acquire("k", run_id="r2")
    assert attempt.acquired and attempt.handle is not None
    takeover = attempt.handle.takeover
    assert takeover is not None and "over the 60s TTL" in takeover["reason"]
    assert takeover["previous"]["token"] == "foreign"
    record = json.loads(manager.lock_path("k").read_text())
    assert record["replaced"]["previous"]["host"] == "elsewhere" and record["run_id"] == "r2"
    log = manager.takeover_log("k").read_text().splitlines()
    assert len(log) == 1 and json.loads(log[0])["by_run_id"] == "r2"


def test_lock_of_a_dead_pid_on_this_host_is_stale_at_once(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    manager = LocalRunLockManager(tmp_path, ttl_seconds=3600)
    path = _write_foreign_lock(manager, "k", age_seconds=0, host=manager.host)
    record = json.loads(path.read_text())
    record["pid"] = child.pid
    path.write_text(json.dumps(record))
    assert not process_alive(child.pid)
    attempt = manager.acquire("k")
    assert attempt.acquired and attempt.handle is not None and attempt.handle.takeover is not None
    assert f"pid {child.pid} is gone" in attempt.handle.takeover["reason"]


def test_reused_pid_is_told_apart_by_its_start_marker() -> None:
    import os

    me = os.getpid()
    assert process_alive(me, process_start_marker(me))
    assert not process_alive(me, "0") or process_start_marker(me) is None


def test_heartbeat_keeps_a_long_run_alive_past_the_ttl(tmp_path: Path) -> None:
    holder = LocalRunLockManager(tmp_path, ttl_seconds=0.6, heartbeat_seconds=0.1)
    attempt = holder.acquire("k", run_id="long")
    assert attempt.handle is not None
    with attempt.handle as handle:
        time.sleep(1.2)  # twice the TTL
        assert not LocalRunLockManager(tmp_path, ttl_seconds=0.6).acquire("k").acquired
        assert handle.heartbeats >= 3
    assert not holder.lock_path("k").exists()


def test_frozen_holder_loses_its_lock_after_the_ttl_and_notices(tmp_path: Path) -> None:
    holder = LocalRunLockManager(tmp_path, ttl_seconds=0.3, heartbeat_seconds=0.05)
    attempt = holder.acquire("k", run_id="frozen")
    assert attempt.handle is not None
    attempt.handle.start_heartbeat()
    attempt.handle.stop_heartbeat()  # simulate a holder that stopped making progress
    time.sleep(0.5)
    taker = LocalRunLockManager(tmp_path, ttl_seconds=0.3).acquire("k", run_id="next")
    assert taker.acquired and taker.handle is not None and taker.handle.takeover is not None
    assert attempt.handle.beat() is False and attempt.handle.lost
    assert attempt.handle.release() is False  # the old holder must not delete the new lock
    assert json.loads(holder.lock_path("k").read_text())["run_id"] == "next"


def test_unreadable_lock_is_busy_within_the_grace_and_stale_after(tmp_path: Path) -> None:
    now = [time.time()]
    manager = LocalRunLockManager(tmp_path, ttl_seconds=60, clock=lambda: now[0])
    path = manager.lock_path("k")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")  # a creator that died between O_EXCL and its write
    assert not manager.acquire("k").acquired
    now[0] += 30
    attempt = manager.acquire("k")
    assert attempt.acquired and attempt.handle is not None and attempt.handle.takeover is not None
    assert "unreadable" in attempt.handle.takeover["reason"]
