"""End to end: scenario DAGs run with ``dag.test()`` (one subprocess per session, see conftest.dag_runs)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.airflow.conftest import DagRuns


def _count(db: str, sql: str) -> int:
    con = duckdb.connect(db, read_only=True)
    try:
        row = con.execute(sql).fetchone()
        assert row is not None
        return int(row[0])
    finally:
        con.close()


def test_quickstart_dag_loads_the_target(dag_runs: DagRuns) -> None:
    assert dag_runs.results["dpone_quickstart"]["state"] == "success", dag_runs.explain("dpone_quickstart")
    states = dag_runs.task_states("dpone_quickstart")
    assert states[("orders", -1)] == ("success", 1)
    db = dag_runs.scenario["duckdb"]["quickstart"]
    assert _count(db, "SELECT count(*) FROM analytics.orders") == 3835
    assert _count(db, "SELECT count(*) FROM __dpone__loads WHERE status = 'committed'") == 1


def test_quickstart_xcom_carries_the_compact_report(dag_runs: DagRuns) -> None:
    summary = dag_runs.xcom("dpone_quickstart", "orders")
    assert summary["passed"] is True and summary["status"] == "succeeded"
    assert (summary["extracted_rows"], summary["inserted_rows"], summary["quarantined_rows"]) == (4000, 3835, 165)
    assert summary["run_id"].startswith("airflow__dpone_quickstart__orders__manual__")
    assert summary["state_after"]["cursor_column"] == "updated_at"
    assert summary["target"].endswith("analytics.orders")
    assert any(p.endswith("data_contract_evidence.json") for p in summary["evidence_paths"])
    assert all(Path(p).exists() for p in summary["evidence_paths"])
    assert summary["errors"] == []


def test_run_id_in_the_audit_row_is_derived_from_the_dag_run(dag_runs: DagRuns) -> None:
    con = duckdb.connect(dag_runs.scenario["duckdb"]["quickstart"], read_only=True)
    try:
        run_id, load_id = con.execute("SELECT run_id, load_id FROM __dpone__loads").fetchone()  # type: ignore[misc]
    finally:
        con.close()
    dag_run_id = dag_runs.results["dpone_quickstart"]["run_id"]
    assert run_id == f"airflow__dpone_quickstart__orders__{dag_run_id}"
    assert dag_runs.xcom("dpone_quickstart", "orders")["load_id"] == load_id


def test_sensor_succeeds_with_the_committed_load(dag_runs: DagRuns) -> None:
    assert dag_runs.task_states("dpone_quickstart")[("orders_loaded", -1)][0] == "success"
    load = dag_runs.xcom("dpone_quickstart", "orders_loaded")
    assert load["load_id"] == dag_runs.xcom("dpone_quickstart", "orders")["load_id"]
    assert load["status"] == "committed" and load["rows_inserted"] == 3835
    assert load["finished_at"].startswith("20")  # ISO text, XCom-safe


def test_outlet_asset_event_for_the_sink_table(dag_runs: DagRuns) -> None:
    rows = dag_runs.query(
        "SELECT a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id "
        "WHERE e.source_dag_id = 'dpone_quickstart' AND e.source_task_id = 'orders'"
    )
    uris = [r[0] for r in rows]
    assert len(uris) == 1 and uris[0].startswith("duckdb:") and uris[0].endswith("warehouse.duckdb/analytics/orders")


def test_failing_contract_fails_the_task_with_the_report_message(dag_runs: DagRuns) -> None:
    assert dag_runs.results["dpone_strict"]["state"] == "failed", dag_runs.explain("dpone_strict")
    state, try_number = dag_runs.task_states("dpone_strict")[("strict_orders", -1)]
    # retries=2 came from the manifest, but a contract violation is not retried (AirflowFailException).
    assert (state, try_number) == ("failed", 1)
    max_tries = dag_runs.query("SELECT max_tries FROM task_instance WHERE dag_id = 'dpone_strict'")[0][0]
    assert max_tries == 2
    report = dag_runs.xcom("dpone_strict", "strict_orders", key="dpone_report")
    assert report["passed"] is False and report["status"] == "failed"
    assert report["errors"][0].startswith("[DPONE_CONTRACT_VIOLATION]")
    assert "repeat the key (id)" in report["errors"][0]
    assert "AirflowFailException" in dag_runs.log and "1 rows repeat the key (id)" in dag_runs.log
    # The gate stopped the run before anything was committed.
    db = dag_runs.scenario["duckdb"]["strict"]
    assert _count(db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'strict_orders'") == 0


def test_sensors_time_out_deferred_and_poking(dag_runs: DagRuns) -> None:
    states = dag_runs.task_states("dpone_sensor_timeouts")
    assert states[("deferred", -1)][0] == "failed"
    assert states[("poked", -1)][0] == "failed"
    assert "no committed load of 'orders' finished after" in dag_runs.log  # the trigger's timeout event
    assert "AirflowSensorTimeout" in dag_runs.log


def test_value_partitions_extract_in_mapped_tasks_and_commit_once(dag_runs: DagRuns) -> None:
    assert dag_runs.results["dpone_partitioned"]["state"] == "success", dag_runs.explain("dpone_partitioned")
    states = dag_runs.task_states("dpone_partitioned")
    assert states[("loads.orders_by_status__extract", 0)][0] == "success"
    assert states[("loads.orders_by_status__extract", 1)][0] == "success"
    assert states[("loads.orders_by_status", -1)][0] == "success"
    assert states[("loads.status_copy", -1)][0] == "success"
    mapped = [dag_runs.xcom("dpone_partitioned", "loads.orders_by_status__extract", map_index=i) for i in (0, 1)]
    assert [(m["partition"], m["phase"], m["status"]) for m in mapped] == [
        ("new", "extract", "extracted"),
        ("paid", "extract", "extracted"),
    ]
    final = dag_runs.xcom("dpone_partitioned", "loads.orders_by_status")
    assert final["status"] == "succeeded" and final["phase"] == "finalize"
    assert {m["run_id"] for m in mapped} == {final["run_id"]}  # both halves share one run id
    db = dag_runs.scenario["duckdb"]["partitioned"]
    loaded = _count(db, "SELECT count(*) FROM analytics.orders_by_status")
    assert loaded == sum(m["extracted_rows"] for m in mapped) == final["inserted_rows"] > 0
    assert _count(db, "SELECT count(*) FROM analytics.orders_by_status WHERE status NOT IN ('new', 'paid')") == 0
    assert _count(dag_runs.scenario["duckdb"]["mart"], "SELECT count(*) FROM analytics.status_copy") == loaded
    loads = (
        duckdb.connect(db, read_only=True)
        .execute("SELECT partition_key, run_id FROM __dpone__loads WHERE process = 'orders_by_status'")
        .fetchall()
    )
    assert loads == [("new,paid", final["run_id"])]  # ONE commit for both partitions
    chunk_dir = Path(dag_runs.scenario["paths"]["partitioned"]).parent / ".dpone" / "chunks" / "orders_by_status"
    assert list(chunk_dir.iterdir()) == []  # the committed run's chunks were removed


def test_manifest_naming_airflow_connections_runs(dag_runs: DagRuns) -> None:
    assert dag_runs.results["dpone_airflow_conns"]["state"] == "success", dag_runs.explain("dpone_airflow_conns")
    assert _count(dag_runs.scenario["duckdb"]["airflow_conns"], "SELECT count(*) FROM analytics.orders_af") == 4000


def test_openlineage_events_carry_dpone_facets(dag_runs: DagRuns) -> None:
    path = dag_runs.root / "openlineage.jsonl"
    if not path.exists():
        pytest.fail("the OpenLineage file transport wrote nothing")
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    complete = [
        e
        for e in events
        if e.get("eventType") == "COMPLETE" and e.get("job", {}).get("name") == "dpone_quickstart.orders"
    ]
    assert complete, sorted({e.get("job", {}).get("name") for e in events})
    event = complete[-1]
    output = event["outputs"][0]
    assert output["name"] == "analytics.orders" and output["namespace"].startswith("duckdb://")
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3835
    assert [f["name"] for f in output["facets"]["schema"]["fields"]][:2] == ["id", "customer_id"]
    assert "amount" in output["facets"]["columnLineage"]["fields"]
    assertions = event["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert {"assertion": "amount.min", "success": False} in [
        {"assertion": a["assertion"], "success": a["success"]} for a in assertions
    ]
