"""Airflow DAGs downstream of a dpone load: one scheduled on the sink table's Asset, one with a sensor.

* ``dpone_orders_report`` runs whenever the ``orders`` load emits its Asset event (data-aware
  scheduling; the Asset URI is the sink table's, derived from the manifest).
* ``dpone_orders_wait`` runs on its own schedule and waits (deferred, in the triggerer) until the
  ``orders`` process has committed a load that finished after this run's data interval ended.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from dpone_provider.lineage import outlet_assets
from dpone_provider.sensors.load import DponeLoadSensor
from dpone_provider.task_group import dpone_task_group

MANIFEST = Path(__file__).resolve().parents[1] / "quickstart" / "orders.yaml"

with DAG(
    "dpone_quickstart_group",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dpone", "example"],
) as load_dag:
    loads = dpone_task_group(MANIFEST, "tag:quickstart", group_id="quickstart")

with DAG(
    "dpone_orders_report",
    schedule=outlet_assets(str(MANIFEST), "orders"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dpone", "example"],
) as report_dag:

    @task
    def report(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Read the loads behind the events: dpone_load_id, dpone_run_id, rows, partition_key, evidence_path."""
        loads = [dict(e.extra) for events in (triggering_asset_events or {}).values() for e in events]
        for load in loads:
            print(load.get("dpone_load_id"), load.get("rows"), load.get("evidence_path"))
        return loads

    report()

with DAG(
    "dpone_orders_wait", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False, tags=["dpone", "example"]
) as wait_dag:
    waited = DponeLoadSensor(
        task_id="orders_loaded",
        manifest=str(MANIFEST),
        selector="orders",
        deferrable=True,
        poke_interval=300,
        timeout=6 * 3600,
    )

    @task
    def use(load: dict[str, Any]) -> str:
        """Read the committed load handed over by the sensor (load_id, row counts, finished_at, ...)."""
        return str(load["load_id"])

    use(waited.output)
