"""Single-writer serialisation, Asset event extra, empty-event option, connection types, parse-time lookups."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from dpone_provider.get_provider_info import DPONE_CONNECTION_TYPES, get_provider_info
from dpone_provider.hooks.dpone import DponeHook, airflow_mappings
from dpone_provider.operators.run import DponeRunOperator
from dpone_provider.task_group import lane_chain


def _write(tmp_path: Path, processes: list[dict[str, Any]], connections: dict[str, Any] | None = None) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "a.csv").write_text("id\n1\n2\n", encoding="utf-8")
    path = tmp_path / "m.yaml"
    conns = {"inbox": {"type": "files", "root": "data"}, "wh": {"type": "duckdb", "path": "wh.duckdb"}}
    path.write_text(
        yaml.safe_dump({"version": 1, "connections": {**conns, **(connections or {})}, "processes": processes}),
        encoding="utf-8",
    )
    return path


def _process(name: str, sink: str = "wh", table: str | None = None, **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "source": {"connection": "inbox", "path": "a.csv", "format": "csv"},
        "sink": {"connection": sink, "table": table or f"main.{name}", "strategy": "full_refresh"},
        **more,
    }


def test_single_writer_sink_gets_one_active_task_across_runs(tmp_path: Path) -> None:
    manifest = str(_write(tmp_path, [_process("p")]))
    assert DponeRunOperator(task_id="p", manifest=manifest).max_active_tis_per_dag == 1
    given = DponeRunOperator(task_id="q", manifest=manifest, selector="p", max_active_tis_per_dag=3)
    assert given.max_active_tis_per_dag == 3
    off = DponeRunOperator(task_id="r", manifest=manifest, selector="p", use_manifest_defaults=False)
    assert off.max_active_tis_per_dag is None


def test_processes_sharing_a_duckdb_file_are_chained_in_manifest_order(tmp_path: Path) -> None:
    from dpone_core.manifest.loader import load_manifest

    manifest = _write(
        tmp_path,
        [_process("a"), _process("b"), _process("c", depends_on=["a"]), _process("other", sink="wh2")],
        {"wh2": {"type": "duckdb", "path": "other.duckdb"}},
    )
    loaded = load_manifest(manifest)
    # a -> b by the lane; c already follows a, and b/c have no path: b -> c; "other" has its own file.
    assert lane_chain(loaded, loaded.manifest.processes) == [("a", "b"), ("b", "c")]


def test_lane_chain_in_a_dag(tmp_path: Path) -> None:
    from airflow.sdk import DAG

    from dpone_provider.task_group import dpone_task_group

    manifest = _write(tmp_path, [_process("a"), _process("b")])
    with DAG("lanes", schedule=None):
        dpone_task_group(manifest, group_id="g")
    # built without error; the chain itself is asserted on lane_chain above


class _Events(dict):  # type: ignore[type-arg]
    def __missing__(self, key: Any) -> Any:
        value = type("Acc", (), {})()
        value.extra = {}
        self[key] = value
        return value


def _context(run_id: str = "manual__1", partition_key: str | None = None) -> dict[str, Any]:
    ti = type("TI", (), {"dag_id": "d", "task_id": "p", "map_index": -1, "xcom_push": lambda *a, **k: None})()
    dag_run = type("DR", (), {"run_id": run_id, "conf": {}, "partition_key": partition_key})()
    return {"ti": ti, "dag_run": dag_run, "outlet_events": _Events()}


def test_outlet_event_extra_carries_the_load_and_empty_loads_can_be_quiet(tmp_path: Path) -> None:
    manifest = str(_write(tmp_path, [_process("p")]))
    op = DponeRunOperator(task_id="p", manifest=manifest)
    (outlet,) = op.outlets
    ctx = _context()
    summary = op.execute(ctx)
    extra = ctx["outlet_events"][outlet].extra
    assert extra["dpone_load_id"] == summary["load_id"] and extra["dpone_run_id"] == summary["run_id"]
    assert extra["rows"] == {"extracted": 2, "inserted": 2, "updated": 0, "deleted": 0, "quarantined": 0}
    assert extra["status"] == summary["status"] and extra["partition_key"] is None
    assert "evidence_path" in extra  # None here: this manifest writes no evidence
    quiet = DponeRunOperator(task_id="p", manifest=manifest, emit_empty_asset_events=False)
    quiet.execute(_context())  # the same run id: already committed, nothing written
    assert quiet.outlets == []  # Airflow emits events only for the Assets left in task.outlets


def test_duckdb_lease_wait_retries_then_names_the_wait(tmp_path: Path) -> None:
    import duckdb

    from dpone_core.connectors.duckdb.connection import connect
    from dpone_core.connectors.duckdb.profile import DuckDBProfile
    from dpone_core.errors import ConcurrentRunError

    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    script = f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('x', flush=True); time.sleep(2.5)"
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline()
        with pytest.raises(ConcurrentRunError, match="lease_wait_seconds=1"):
            connect(DuckDBProfile(type="duckdb", path=str(path), lease_wait_seconds=1), tmp_path)
        started = time.monotonic()
        con = connect(DuckDBProfile(type="duckdb", path=str(path), lease_wait_seconds=30), tmp_path)
        con.close()
        assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait()
    assert threading.active_count() >= 1


def test_connection_types_registered_are_the_unowned_mapped_ones() -> None:
    types = [c["connection-type"] for c in get_provider_info()["connection-types"]]
    assert tuple(types) == DPONE_CONNECTION_TYPES
    mapped = set(airflow_mappings())
    # postgres/mssql/aws/kafka have official providers; fs ships with Airflow's standard provider.
    # Aliases (postgresql, file) are accepted on Connections but are no provider's form.
    assert {"postgres", "mssql", "aws", "kafka", "fs"} <= mapped - set(types)
    assert {"duckdb", "clickhouse"} <= mapped


def test_providers_manager_offers_duckdb_and_clickhouse() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hooks = ProvidersManagerTaskRuntime().hooks
    assert hooks["duckdb"] is not None and hooks["duckdb"].hook_class_name.endswith("DuckDBConnectionHook")
    assert hooks["clickhouse"] is not None and hooks["clickhouse"].package_name == "dpone"


def test_a_parse_reads_only_the_connections_the_manifest_names(
    tmp_path: Path, airflow_connection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import BaseHook

    for i in range(5):
        airflow_connection(f"unused_{i}", conn_type="duckdb", host=str(tmp_path / f"u{i}.duckdb"))
    airflow_connection("named_wh", conn_type="duckdb", host=str(tmp_path / "named.duckdb"))
    manifest = _write(tmp_path, [_process("p", sink="airflow:named_wh")])
    seen: list[str] = []
    original = BaseHook.get_connection.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, conn_id: str) -> Any:
        seen.append(conn_id)
        return original(cls, conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(counting))
    loaded, placeholders = DponeHook().parse(manifest)
    assert seen == ["named_wh"] and not placeholders
    assert loaded.manifest.connections["airflow:named_wh"].type == "duckdb"


def test_a_partitioned_dag_runs_key_picks_the_process_partition(tmp_path: Path) -> None:
    manifest = _write(tmp_path, [])
    (tmp_path / "data" / "days.csv").write_text(
        "id,ts\n1,2026-11-28T01:00:00Z\n2,2026-11-29T01:00:00Z\n3,2026-11-29T23:00:00Z\n4,2026-11-30T01:00:00Z\n",
        encoding="utf-8",
    )
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    data["processes"] = [
        {
            "name": "days",
            "source": {"connection": "inbox", "path": "days.csv", "format": "csv"},
            "sink": {"connection": "wh", "table": "main.days", "strategy": "partition_replace"},
            "partitions": {"column": "ts", "grain": "day", "start": "2026-11-28"},
        }
    ]
    manifest.write_text(yaml.safe_dump(data), encoding="utf-8")
    op = DponeRunOperator(task_id="p", manifest=str(manifest))
    summary = op.execute(_context("scheduled__2026-11-29", partition_key="2026-11-29"))
    assert (summary["partition"], summary["inserted_rows"]) == ("2026-11-29", 2)  # that day only
    assert summary["run_id"].endswith("__2026-11-29")

    # A key that is not one of the process's (another DAG's partition scheme) loads the whole table.
    whole = DponeRunOperator(task_id="p", manifest=str(manifest))
    report = whole.execute(_context("manual__2", partition_key="eu"))
    assert (report["partition"], report["inserted_rows"]) == (None, 4)
