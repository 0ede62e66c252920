"""Airflow DAG for the quickstart manifest (CSV orders -> DuckDB), built by ``dpone_dag``.

One task per process (here: ``orders``) with retries, pool, owner and Assets taken from the
manifest. Copy this file and ``dags_examples/quickstart/`` into your DAGs folder to try it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from dpone_provider.task_group import dpone_dag

MANIFEST = Path(__file__).resolve().parents[1] / "quickstart" / "orders.yaml"

dag = dpone_dag(
    MANIFEST,
    dag_id="dpone_quickstart",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
)
