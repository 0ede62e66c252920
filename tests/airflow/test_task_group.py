"""dpone_task_group / dpone_dag: tasks, dependencies, mapping and task arguments from the manifest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk import DAG

from dpone_core.errors import ManifestError
from dpone_core.manifest.process import Partitions
from dpone_provider.task_group import dpone_dag, dpone_task_group, interval_partition_keys, task_id_for


def _manifest(tmp_path: Path, processes: list[dict[str, Any]]) -> Path:
    path = tmp_path / "loads.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "connections": {
                    "inbox": {"type": "files", "root": "data"},
                    "wh": {"type": "duckdb", "path": "wh.duckdb"},
                },
                "processes": processes,
            }
        ),
        encoding="utf-8",
    )
    return path


def _process(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "source": {"connection": "inbox", "path": f"{name}.csv", "format": "csv"},
        "sink": {"connection": "wh", "table": f"raw.{name}", "strategy": "append"},
        **extra,
    }


def test_one_task_per_process_wired_by_depends_on(tmp_path: Path) -> None:
    manifest = _manifest(
        tmp_path,
        [
            _process("customers", tags=["crm"]),
            _process("orders", tags=["sales"], retry={"attempts": 2, "backoff_seconds": 10, "backoff": "fixed"}),
            _process(
                "sales.daily",
                depends_on=["customers", "orders"],
                tags=["sales"],
                orchestration={"concurrency_key": "wh_writes", "owners": ["ana", "bo"]},
            ),
        ],
    )
    with DAG("d", schedule=None) as dag:
        group = dpone_task_group(manifest)
    assert group.group_id == "loads"
    assert sorted(dag.task_ids) == ["loads.customers", "loads.orders", "loads.sales_daily"]
    daily = dag.get_task("loads.sales_daily")
    assert daily.upstream_task_ids == {"loads.customers", "loads.orders"}
    assert (daily.pool, daily.owner, daily.selector) == ("wh_writes", "ana,bo", "sales.daily")
    orders = dag.get_task("loads.orders")
    assert (orders.retries, orders.retry_delay.total_seconds(), orders.retry_exponential_backoff) == (2, 10.0, 0)
    assert [a.uri for a in orders.outlets] == [f"duckdb:{tmp_path}/wh.duckdb/raw/orders"]


def test_selector_limits_the_tasks(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, [_process("customers", tags=["crm"]), _process("orders", tags=["sales"])])
    with DAG("d", schedule=None) as dag:
        dpone_task_group(manifest, "tag:sales", group_id="sales")
    assert dag.task_ids == ["sales.orders"]


def test_partitions_become_mapped_extract_tasks_plus_one_finalize(tmp_path: Path) -> None:
    manifest = _manifest(
        tmp_path,
        [
            _process("by_region", partitions={"column": "region", "values": ["eu", "us"]}, retry={"attempts": 1}),
            _process("by_hour", partitions={"column": "updated_at", "grain": "hour"}),
            _process("by_range", partitions={"column": "id", "ranges": 4}),
            _process("after", depends_on=["by_hour"]),
            _process("before"),
            _process("gated", depends_on=["before"], partitions={"column": "id", "ranges": 2}),
        ],
    )
    with DAG("d", schedule=None) as dag:
        dpone_task_group(manifest, group_id="g")
    extract = dag.get_task("g.by_region__extract")
    assert type(extract).__name__ == "MappedOperator"
    assert extract.expand_input.value["partition"] == ["eu", "us"]
    assert extract.partial_kwargs["phase"] == "extract"
    assert extract.partial_kwargs["retries"] == 1
    assert not extract.partial_kwargs.get("outlets")  # only the finalize writes the target
    finalize = dag.get_task("g.by_region")
    assert type(finalize).__name__ == "DponeRunOperator"
    assert (finalize.phase, finalize.chunks) == ("finalize", ["eu", "us"])
    assert finalize.upstream_task_ids == {"g.by_region__extract"}
    assert finalize.outlets[0].uri.endswith("/raw/by_region")
    assert dag.get_task("g.by_hour__extract").upstream_task_ids == {"g.by_hour__partition_keys"}
    assert dag.get_task("g.by_hour").upstream_task_ids == {"g.by_hour__partition_keys", "g.by_hour__extract"}
    # downstream waits for the commit; by_range writes the same DuckDB file, so it runs first (one writer)
    assert dag.get_task("g.after").upstream_task_ids == {"g.by_hour", "g.by_range"}
    assert dag.get_task("g.by_range__extract").expand_input.value["partition"] == ["0", "1", "2", "3"]
    assert dag.get_task("g.by_range").chunks == ["0", "1", "2", "3"]
    assert dag.get_task("g.gated__extract").upstream_task_ids == {"g.before"}  # upstream runs before extracting


def test_interval_partition_keys() -> None:
    hour = Partitions(column="t", grain="hour")
    start, end = datetime(2026, 1, 1, 22, tzinfo=UTC), datetime(2026, 1, 2, 1, tzinfo=UTC)
    assert interval_partition_keys(hour, start, end) == ["2026-01-01T22", "2026-01-01T23", "2026-01-02T00"]
    day = Partitions(column="t", grain="day", start="2026-01-01")
    assert interval_partition_keys(day, None, None)[:2] == ["2026-01-01", "2026-01-02"]
    assert interval_partition_keys(day, start, start)[:2] == ["2026-01-01", "2026-01-02"]
    assert interval_partition_keys(Partitions(column="r", values=["eu", 1]), start, end) == ["eu", "1"]


def test_dpone_dag_defaults(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, [_process("orders", tags=["sales"], description="Orders.")])
    dag = dpone_dag(manifest, schedule="@daily", start_date=datetime(2026, 1, 1), default_args={"retries": 5})
    assert dag.dag_id == "dpone_loads" and sorted(dag.tags) == ["dpone", "sales"]
    assert dag.get_task("orders").retries == 5 and "Orders." in (dag.doc_md or "")


def test_an_invalid_manifest_is_an_import_error(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, [_process("orders", depends_on=["nope"])])
    with pytest.raises(ManifestError, match="unknown process 'nope'"), DAG("d", schedule=None):
        dpone_task_group(manifest)


def test_task_id_for() -> None:
    assert task_id_for("sales.orders-v2") == "sales_orders-v2"


def test_interval_keys_of_iso_weeks_and_non_utc_intervals() -> None:
    # Airflow's @weekly interval runs Sunday to Sunday: it overlaps two ISO weeks, both are loaded.
    weeks = Partitions(column="ts", grain="week", start="2026-01-05")
    assert interval_partition_keys(weeks, datetime(2026, 1, 4, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC)) == [
        "2025-12-29",
        "2026-01-05",
    ]
    # 01:00-03:00 at UTC+1 is 00:00-02:00 UTC: two hourly keys, named in UTC.
    hours = Partitions(column="ts", grain="hour", start="2026-01-01T00")
    plus_one = timezone(timedelta(hours=1))
    start, end = datetime(2026, 1, 1, 1, tzinfo=plus_one), datetime(2026, 1, 1, 3, tzinfo=plus_one)
    assert interval_partition_keys(hours, start, end) == ["2026-01-01T00", "2026-01-01T01"]


@pytest.mark.parametrize(
    ("given", "keys"),
    [("eu, us", ["eu", "us"]), ('["eu", "us"]', ["eu", "us"]), ("['01']", ["01"]), (["01", 2], ["01", "2"])],
)
def test_chunks_rendered_as_text_become_keys(given: Any, keys: list[str]) -> None:
    from dpone_provider.operators.task_arguments import chunk_keys

    assert chunk_keys(given) == keys


def test_an_enclosing_task_groups_default_args_win_over_the_manifest(tmp_path: Path) -> None:
    from airflow.sdk import TaskGroup

    manifest = _manifest(
        tmp_path,
        [_process("by_region", partitions={"column": "region", "values": ["eu", "us"]}, retry={"attempts": 3})],
    )
    with DAG("d", schedule=None) as dag, TaskGroup("outer", default_args={"retries": 0}):
        dpone_task_group(manifest, group_id="g")
    assert dag.get_task("outer.g.by_region__extract").partial_kwargs.get("retries", 0) == 0
    assert dag.get_task("outer.g.by_region").retries == 0


def test_query_params_may_come_from_an_upstream_task(tmp_path: Path) -> None:
    from airflow.sdk import task

    from dpone_provider.operators.run import DponeRunOperator

    manifest = _manifest(tmp_path, [_process("orders")])

    @task
    def params() -> dict[str, str]:
        return {"since": "2026-01-01"}

    with DAG("d", schedule=None) as dag:
        DponeRunOperator(task_id="orders", manifest=str(manifest), selector="orders", query_params=params())
    assert "params" in dag.get_task("orders").upstream_task_ids


def test_a_selection_keeps_the_order_through_processes_left_out(tmp_path: Path) -> None:
    manifest = _manifest(
        tmp_path,
        [
            _process("a", tags=["x"]),
            _process("b", depends_on=["a"]),
            _process("c", depends_on=["b"], tags=["x"]),
        ],
    )
    with DAG("d", schedule=None) as dag:
        dpone_task_group(manifest, "tag:x", group_id="g")
    assert sorted(dag.task_dict) == ["g.a", "g.c"]
    assert dag.get_task("g.c").upstream_task_ids == {"g.a"}
