"""Every DAG file in dags_examples/airflow imports cleanly (Airflow's DagBag, as the DAG processor parses)."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples" / "airflow"


@pytest.fixture(scope="module")
def dagbag() -> object:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(EXAMPLES), safe_mode=True)


def test_every_example_imports(dagbag: object) -> None:
    assert dagbag.import_errors == {}  # type: ignore[attr-defined]
    files = {Path(d.fileloc).name for d in dagbag.dags.values()}  # type: ignore[attr-defined]
    assert files == {p.name for p in EXAMPLES.glob("*.py")}


def test_example_dags_and_tasks(dagbag: object) -> None:
    dags = dagbag.dags  # type: ignore[attr-defined]
    assert set(dags) == {
        "dpone_quickstart",
        "dpone_quickstart_group",
        "dpone_orders_report",
        "dpone_orders_wait",
        "dpone_postgres_orders",
    }
    assert dags["dpone_quickstart"].task_ids == ["orders"]
    postgres = dags["dpone_postgres_orders"]
    assert sorted(postgres.task_ids) == [
        "shop.customer_orders",
        "shop.shop_customers",
        "shop.shop_customers__extract",
        "shop.shop_orders",
    ]
    joined = postgres.get_task("shop.customer_orders")
    assert joined.upstream_task_ids == {"shop.shop_orders", "shop.shop_customers"}
    extract = postgres.get_task("shop.shop_customers__extract")  # key ranges: mapped extracts, one finalize
    assert extract.expand_input.value["partition"] == ["0", "1", "2", "3"]
    assert postgres.get_task("shop.shop_customers").upstream_task_ids == {"shop.shop_customers__extract"}
    orders = postgres.get_task("shop.shop_orders")
    assert (orders.retries, orders.pool, orders.retry_exponential_backoff) == (3, "warehouse_postgres", 2.0)
