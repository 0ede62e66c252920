"""DAGs for the live Airflow stack (copied into its tmp DAGs folder; airflow dag)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, CronPartitionTimetable, task

from dpone_provider.lineage import outlet_assets
from dpone_provider.sensors.load import DponeLoadSensor
from dpone_provider.task_group import dpone_dag

MANIFEST = Path(__file__).resolve().parent / "quickstart" / "orders.yaml"
# DPONE_LIVE_UNSERIALISED=1 turns the single-writer default off, to show what it prevents.
UNSERIALISED = os.environ.get("DPONE_LIVE_UNSERIALISED") == "1"

# The quickstart DAG of dags_examples/airflow, with an end_date so that unpausing it schedules no
# run of its own: the only runs are the backfill's.
quickstart = dpone_dag(
    MANIFEST,
    dag_id="dpone_quickstart",
    schedule="@daily",
    start_date=datetime(2026, 11, 28),
    end_date=datetime(2026, 11, 30),
    catchup=False,
    operator_kwargs={"max_active_tis_per_dag": None} if UNSERIALISED else None,
)

with DAG("dpone_live_consumer", schedule=outlet_assets(str(MANIFEST), "orders"), catchup=False) as consumer:

    @task
    def record(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Write the extras of the asset events that triggered this run where the test reads them."""
        extras = [dict(e.extra) for events in (triggering_asset_events or {}).values() for e in events]
        out = Path(os.environ["DPONE_LIVE_RESULTS"])
        out.mkdir(parents=True, exist_ok=True)
        with (out / "consumer.jsonl").open("a", encoding="utf-8") as f:
            for extra in extras:
                f.write(json.dumps(extra) + "\n")
        return extras

    record()

CHECKED = Path(__file__).resolve().parent / "checked" / "orders.yaml"

# Loads followed by their check tasks; a load that writes no row emits no Asset event.
checked = dpone_dag(
    CHECKED,
    dag_id="dpone_checked",
    schedule=None,
    start_date=datetime(2026, 11, 1),
    checks=True,
    check_max_age="1d",
    operator_kwargs={"emit_empty_asset_events": False},
)

with DAG("dpone_wait_for_orders", schedule=None, start_date=datetime(2026, 11, 1), catchup=False) as waiter:
    # Waits in the triggerer for a load of dpone_checked's orders that finished after conf["since"].
    DponeLoadSensor(
        task_id="orders_loaded",
        manifest=str(CHECKED),
        selector="orders",
        since="{{ dag_run.conf['since'] }}",
        deferrable=True,
        poke_interval=2,
        timeout=240,
    )

# Airflow's partitioned runs: each DAG run names its day as partition_key, and the load reads and
# replaces exactly that day of the table.
days = dpone_dag(
    Path(__file__).resolve().parent / "days" / "events.yaml",
    dag_id="dpone_days",
    schedule=CronPartitionTimetable("0 0 * * *", timezone="UTC", key_format="%Y-%m-%d"),
    start_date=datetime(2026, 11, 28, tzinfo=UTC),
    end_date=datetime(2026, 11, 30, tzinfo=UTC),
    catchup=False,
)
