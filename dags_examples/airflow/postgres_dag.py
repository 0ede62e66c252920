"""Airflow DAG for a Postgres -> Postgres manifest whose connections are Airflow Connections.

Create the connections first (the pool is optional; without it the tasks queue on a missing pool)::

    airflow connections add shop_postgres --conn-uri postgres://loader:...@shop-db:5432/shop
    airflow connections add warehouse_postgres --conn-uri postgres://loader:...@dw:5432/warehouse
    airflow pools set warehouse_postgres 2 "dpone writes to the warehouse"

``dpone_task_group`` makes one task per process; ``customer_orders`` runs after both loads
(``depends_on``). ``shop_customers`` has four key ranges: four mapped ``shop_customers__extract``
tasks read them in parallel and the ``shop_customers`` finalize task commits them as one load.
Each task retries 3 times with exponential backoff (the manifest's ``retry``) in the
``warehouse_postgres`` pool (its ``concurrency_key``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG

from dpone_provider.task_group import dpone_task_group

MANIFEST = Path(__file__).resolve().parent / "manifests" / "postgres_orders.yaml"

with DAG(
    "dpone_postgres_orders",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    dagrun_timeout=timedelta(hours=1),
    tags=["dpone", "postgres", "example"],
) as dag:
    dpone_task_group(MANIFEST, group_id="shop")
