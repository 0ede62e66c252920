"""On the real stack: check tasks gating downstream loads, a deferrable sensor in the triggerer,
no Asset event for an empty load, and a backfill of Airflow partitioned runs loading their days."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any as Stack

import duckdb
import pytest

pytestmark = pytest.mark.xdist_group("airflow_live")


def _wait_for_state(stack: Stack, dag_id: str, task_id: str, wanted: set[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        rows = stack.query("SELECT state FROM task_instance WHERE dag_id = ? AND task_id = ?", dag_id, task_id)
        state = str(rows[0][0]) if rows else ""
        if state in wanted:
            return state
        time.sleep(1)
    return state


def _wait_for_log(path: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and text not in path.read_text(errors="replace"):
        time.sleep(0.5)


def _asset_events(stack: Stack, uri_suffix: str) -> list[dict[str, object]]:
    rows = stack.query(
        "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri LIKE ? ORDER BY e.id",
        f"%{uri_suffix}",
    )
    return [json.loads(str(r[0])) for r in rows]


def test_checks_gate_the_downstream_and_a_deferred_sensor_wakes_on_the_load(airflow_stack: Stack) -> None:
    stack = airflow_stack
    stack.cli("dags", "unpause", "dpone_wait_for_orders")
    stack.cli("dags", "unpause", "dpone_checked")
    since = datetime.now(UTC).isoformat()
    stack.cli("dags", "trigger", "dpone_wait_for_orders", "--run-id", "wait", "--conf", json.dumps({"since": since}))
    # Nothing loaded yet: the sensor leaves its worker slot and waits in the triggerer.
    assert _wait_for_state(stack, "dpone_wait_for_orders", "orders_loaded", {"deferred", "failed"}) == "deferred"
    # Airflow 3.3 race, not dpone's: if the trigger fires before the scheduler has read the
    # executor's "success" for the deferring try, it sees that event for the re-queued task and marks
    # it failed. A real sensor waits minutes; here the load would come seconds later, so let the
    # scheduler take that event first.
    _wait_for_log(
        stack.home / "scheduler.log",
        "with state success for task instance TaskInstanceKey(dag_id='dpone_wait_for_orders'",
    )

    stack.cli("dags", "trigger", "dpone_checked", "--run-id", "first")
    assert stack.wait_for_runs("dpone_checked", 1) == ["success"], stack.logs()[-4000:]
    assert stack.task_states("dpone_checked", "first") == {
        "orders": "success",
        "orders__check": "success",
        "orders_copy": "success",
        "orders_copy__check": "success",
    }
    assert stack.wait_for_runs("dpone_wait_for_orders", 1) == ["success"], stack.logs()[-4000:]
    (load,) = stack.query(
        "SELECT value FROM xcom WHERE dag_id = 'dpone_wait_for_orders' AND task_id = 'orders_loaded' "
        "AND key = 'return_value'"
    )
    assert json.loads(str(load[0]))["rows_inserted"] == 3835
    # The waiting happened in the triggerer: its log of this task shows the polls and the event.
    (trigger_log,) = (stack.home / "logs" / "dag_id=dpone_wait_for_orders").rglob("*.log.trigger.*.log")
    text = trigger_log.read_text(encoding="utf-8")
    assert "no committed load of orders after" in text and "Trigger fired event" in text

    warehouse = stack.dags / "checked" / ".dpone" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:  # another tool breaks the contract
        con.execute("UPDATE analytics.orders SET status = 'lost' WHERE id <= 3")
    stack.cli("dags", "trigger", "dpone_checked", "--run-id", "second")
    assert stack.wait_for_runs("dpone_checked", 2) == ["success", "failed"]
    states = stack.task_states("dpone_checked", "second")
    assert (states["orders"], states["orders__check"], states["orders_copy"]) == (
        "success",
        "failed",
        "upstream_failed",
    )
    assert "status.allowed x3" in stack.logs()
    # emit_empty_asset_events=False: the second load wrote nothing, so only the first emitted.
    events = _asset_events(stack, "checked/.dpone/warehouse.duckdb/analytics/orders")
    assert [e["rows"]["inserted"] for e in events] == [3835]  # type: ignore[index]


def test_a_backfill_of_partitioned_runs_loads_exactly_their_days(airflow_stack: Stack) -> None:
    stack = airflow_stack
    stack.cli("dags", "unpause", "dpone_days")
    stack.cli("backfill", "create", "--dag-id", "dpone_days", "--from-date", "2026-11-28", "--to-date", "2026-11-30")
    assert stack.wait_for_runs("dpone_days", 3) == ["success"] * 3, stack.logs()[-4000:]
    keys = sorted(str(r[0]) for r in stack.query("SELECT partition_key FROM dag_run WHERE dag_id = 'dpone_days'"))
    assert keys == ["2026-11-28", "2026-11-29", "2026-11-30"]
    with duckdb.connect(str(stack.dags / "days" / "days.duckdb"), read_only=True) as con:
        days = con.execute(
            "SELECT strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d') AS d, count(*) FROM raw.events GROUP BY d ORDER BY d"
        ).fetchall()
        loads = con.execute("SELECT rows_inserted FROM main.__dpone__loads ORDER BY 1").fetchall()
    assert days == [("2026-11-28", 4), ("2026-11-29", 4), ("2026-11-30", 4)]  # not 2026-11-27
    assert loads == [(4,), (4,), (4,)]
