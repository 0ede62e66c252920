"""A backfill of the quickstart DAG on a real Airflow stack: overlapping runs share one DuckDB file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any as Stack

import pytest

pytestmark = pytest.mark.xdist_group("airflow_live")

BACKFILL_RUNS = 3


def _states(stack: Stack) -> list[str]:
    rows = stack.query("SELECT state FROM dag_run WHERE dag_id = 'dpone_quickstart' AND run_type = 'backfill'")
    return [str(r[0]) for r in rows]


def test_a_backfill_of_a_duckdb_load_runs_every_day_without_lock_errors(airflow_stack: Stack) -> None:
    stack = airflow_stack
    stack.cli("dags", "unpause", "dpone_quickstart")
    stack.cli("dags", "unpause", "dpone_live_consumer")
    stack.cli(
        "backfill", "create", "--dag-id", "dpone_quickstart", "--from-date", "2026-11-28", "--to-date", "2026-11-30"
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        states = _states(stack)
        if len(states) == BACKFILL_RUNS and all(s in {"success", "failed"} for s in states):
            break
        time.sleep(2)
    logs = stack.logs()
    assert _states(stack) == ["success"] * BACKFILL_RUNS, logs[-4000:]
    assert "DPONE_ALREADY_RUNNING" not in logs

    import duckdb

    con = duckdb.connect(str(stack.warehouse), read_only=True)
    try:
        (count,) = con.execute("SELECT count(*) FROM analytics.orders").fetchone() or (0,)
        loads = con.execute(
            "SELECT run_id, rows_inserted FROM main.__dpone__loads WHERE run_id LIKE 'airflow__dpone_quickstart__%'"
        ).fetchall()
    finally:
        con.close()
    assert count == 3835
    # One committed audit row per DAG run: the first loads the file, the next two find nothing new.
    assert len({r[0] for r in loads}) == BACKFILL_RUNS
    assert sorted(r[1] for r in loads) == [0, 0, 3835]

    # The sink Asset's events carry the load; the consumer DAG read them from triggering_asset_events.
    events = stack.query("SELECT extra FROM asset_event ORDER BY id")
    extras = [json.loads(str(e[0])) for e in events]
    assert len(extras) == BACKFILL_RUNS
    assert sorted(e["rows"]["inserted"] for e in extras) == [0, 0, 3835]
    assert all(
        e["dpone_load_id"] and e["dpone_run_id"].startswith("airflow__dpone_quickstart__orders__") for e in extras
    )
    results = Path(stack.env["DPONE_LIVE_RESULTS"]) / "consumer.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not results.exists():
        time.sleep(2)
    seen = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert seen and {e["dpone_load_id"] for e in seen} <= {e["dpone_load_id"] for e in extras}
