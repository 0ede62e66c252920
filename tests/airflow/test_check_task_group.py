"""dpone_dag(checks=True): a check task after each load, and downstream loads wait for it."""

from __future__ import annotations

from pathlib import Path

import yaml

from dpone_provider.task_group import dpone_dag


def _with_downstream(quickstart: Path) -> Path:
    """The quickstart plus ``orders_copy``, a second load of the same file that runs after ``orders``."""
    data = yaml.safe_load(quickstart.read_text(encoding="utf-8"))
    copy = yaml.safe_load(yaml.safe_dump(data["processes"][0]))
    copy["name"] = "orders_copy"
    copy["sink"]["table"] = "analytics.orders_copy"
    copy["depends_on"] = ["orders"]
    data["processes"].append(copy)
    quickstart.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return quickstart


def test_checks_follow_each_load_and_gate_the_downstream(quickstart: Path) -> None:
    manifest = _with_downstream(quickstart)
    dag = dpone_dag(manifest, dag_id="checked", checks=True, check_max_age="1d")
    assert dag.get_task("orders__check").upstream_task_ids == {"orders"}
    assert dag.get_task("orders_copy").upstream_task_ids == {"orders__check"}
    assert dag.get_task("orders_copy__check").upstream_task_ids == {"orders_copy"}
    # DuckDB takes one writer: the check (a reader of the same file) runs in one DAG run at a time too.
    assert dag.get_task("orders__check").max_active_tis_per_dag == 1
    # What the tasks do on a real scheduler (a failed check leaves the downstream upstream_failed):
    # tests/airflow_live/test_checks_sensor_partitions.py.


def test_without_checks_there_is_no_check_task(quickstart: Path) -> None:
    dag = dpone_dag(_with_downstream(quickstart), dag_id="plain")
    assert sorted(dag.task_ids) == ["orders", "orders_copy"]
    assert dag.get_task("orders_copy").upstream_task_ids == {"orders"}
