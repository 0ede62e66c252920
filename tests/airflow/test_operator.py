"""DponeRunOperator in-process: manifest defaults, execute() against the quickstart, lineage facets."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from dpone_provider.operators.run import DponeRunOperator
from dpone_provider.operators.task_arguments import manifest_task_kwargs


@dataclass
class _TaskInstance:
    """The few TaskInstance attributes execute() reads; xcom_push records instead of writing a database."""

    dag_id: str = "dag"
    task_id: str = "task"
    map_index: int = -1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@dataclass
class _DagRun:
    run_id: str = "manual__2026-11-23T00:00:00+00:00"
    conf: dict[str, Any] = field(default_factory=dict)


def _context(**conf: Any) -> Any:
    return {"ti": _TaskInstance(), "dag_run": _DagRun(conf=conf)}


def _with_policies(manifest: Path, **process_updates: Any) -> Path:
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    data["processes"][0].update(process_updates)
    manifest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return manifest


def test_manifest_retry_pool_and_owner_become_task_arguments(quickstart: Path) -> None:
    _with_policies(
        quickstart,
        retry={"attempts": 3, "backoff_seconds": 2, "backoff": "exponential"},
        orchestration={"concurrency_key": "warehouse_writes", "owners": ["team:data-eng"]},
    )
    with DAG("d", schedule=None):
        op = DponeRunOperator(task_id="orders", manifest=str(quickstart))
    assert (op.retries, op.retry_delay, op.retry_exponential_backoff) == (3, timedelta(seconds=2), 2.0)
    assert op.max_retry_delay == timedelta(seconds=64)
    assert op.pool == "warehouse_writes" and op.owner == "team:data-eng"
    assert [a.uri for a in op.outlets] == [
        f"duckdb://{quickstart.parent}/.dpone/warehouse.duckdb/analytics/orders".replace("duckdb://", "duckdb:")
    ]
    assert [a.uri for a in op.inlets] == [f"file://{quickstart.parent}/data/orders*.csv"]


def test_the_dag_and_the_task_win_over_the_manifest(quickstart: Path) -> None:
    _with_policies(quickstart, retry={"attempts": 3}, orchestration={"concurrency_key": "warehouse_writes"})
    with DAG("d", schedule=None, default_args={"retries": 0}):
        op = DponeRunOperator(task_id="orders", manifest=str(quickstart), pool="default_pool")
    assert (op.retries, op.pool) == (0, "default_pool")
    with DAG("e", schedule=None):
        op = DponeRunOperator(task_id="orders", manifest=str(quickstart), use_pool=False, use_manifest_defaults=True)
    assert op.pool == "default_pool" and op.retries == 3


def test_templated_manifest_is_not_read_at_parse_time() -> None:
    with DAG("d", schedule=None):
        op = DponeRunOperator(task_id="t", manifest="{{ var.value.manifest }}")
    assert op.outlets == [] and op.retries == 0


def test_manifest_task_kwargs_without_policies(quickstart: Path) -> None:
    import dpone_core

    (process,) = dpone_core.processes(quickstart)
    assert manifest_task_kwargs(process) == {"owner": "team:data-eng"}


def test_execute_returns_the_summary_and_is_idempotent_per_dag_run(quickstart: Path) -> None:
    op = DponeRunOperator(task_id="orders", manifest=str(quickstart))
    summary = op.execute(_context())
    assert summary["status"] == "succeeded" and summary["inserted_rows"] == 3835
    assert summary["run_id"] == "airflow__dag__task__manual__2026-11-23T00:00:00+00:00"
    again = op.execute(_context())  # an Airflow retry or re-run of the same DAG run
    assert again["status"] == "skipped" and again["inserted_rows"] == 0
    restarted = op.execute(_context(dpone_restart=True))
    assert restarted["status"] == "succeeded" and restarted["load_id"] != summary["load_id"]


def test_failed_run_raises_without_retry_and_pushes_the_report(tmp_path: Path) -> None:
    op = DponeRunOperator(task_id="t", manifest=str(tmp_path / "missing.yaml"))
    context = _context()
    with pytest.raises(AirflowFailException, match=r"DPONE_MANIFEST_INVALID.*file not found"):
        op.execute(context)
    assert context["ti"].pushed["dpone_report"]["passed"] is False


def test_transient_failure_raises_a_retryable_exception(quickstart: Path) -> None:
    op = DponeRunOperator(task_id="orders", manifest=str(quickstart))
    op.execute(_context())
    database = str(quickstart.parent / ".dpone" / "warehouse.duckdb")
    # Another process holds DuckDB's write lock: dpone reports DPONE_ALREADY_RUNNING, which Airflow may retry.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)",
            database,
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        with pytest.raises(AirflowException) as raised:
            op.execute(_context(dpone_restart=True))
        assert not isinstance(raised.value, AirflowFailException)
        assert "DPONE_ALREADY_RUNNING" in str(raised.value)
    finally:
        holder.kill()
        holder.wait()


def test_openlineage_facets_after_a_run(quickstart: Path) -> None:
    op = DponeRunOperator(task_id="orders", manifest=str(quickstart))
    start = op.get_openlineage_facets_on_start()
    assert [(d.namespace, d.name) for d in start.inputs] == [("file", f"{quickstart.parent}/data/orders*.csv")]
    assert [(d.namespace, d.name) for d in start.outputs] == [
        (f"duckdb://{quickstart.parent}/.dpone/warehouse.duckdb", "analytics.orders")
    ]
    op.execute(_context())
    lineage = op.get_openlineage_facets_on_complete(None)
    (output,) = lineage.outputs
    assert output.outputFacets["outputStatistics"].rowCount == 3835
    assert [(f.name, f.type) for f in output.facets["schema"].fields][:3] == [
        ("id", "BIGINT"),
        ("customer_id", "BIGINT"),
        ("amount", "NUMERIC(18, 2)"),
    ]
    column = output.facets["columnLineage"].fields["email"].inputFields[0]
    assert (column.namespace, column.field) == ("file", "email")
    (source,) = lineage.inputs
    assert source.inputFacets["inputStatistics"].rowCount == 4000
    assertions = {a.assertion: a for a in source.inputFacets["dataQualityAssertions"].assertions}
    assert assertions["amount.min"].success is False and assertions["amount.min"].actual == "41"
    assert assertions["id.unique"].success is True and assertions["id.unique"].column == "id"


def test_constructor_validates_arguments() -> None:
    with pytest.raises(ValueError, match="manifest"):
        DponeRunOperator(task_id="t", manifest="")
    with pytest.raises(ValueError, match="in_process_retries"):
        DponeRunOperator(task_id="t", manifest="m.yaml", in_process_retries=-1)


def test_query_params_override_the_manifest(tmp_path: Path) -> None:
    import duckdb

    with duckdb.connect(str(tmp_path / "src.duckdb")) as con:
        con.execute("CREATE TABLE events AS SELECT range AS id, DATE '2026-01-01' + range::INT AS day FROM range(10)")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nconnections:\n  src: {type: duckdb, path: src.duckdb}\n  wh: {type: duckdb, path: wh.duckdb}\n"
        "processes:\n  - name: ev\n    source:\n      connection: src\n"
        "      query: 'SELECT id, day FROM events WHERE day >= CAST(:since AS DATE)'\n"
        "      params: {since: '2026-01-01'}\n    sink: {connection: wh, table: ev, strategy: append}\n"
    )
    op = DponeRunOperator(task_id="ev", manifest=str(manifest), query_params={"since": "2026-01-08"})
    assert "query_params" in op.template_fields
    summary = op.execute(_context())
    assert summary["inserted_rows"] == 3
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT min(id), max(id) FROM ev").fetchall() == [(7, 9)]
