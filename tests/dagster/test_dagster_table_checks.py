"""Checks that stand alone: check-only runs check the table as it is; audit checks from __dpone__loads."""

from pathlib import Path

import dagster as dg
import duckdb
from dagster_helpers import edit_manifest

from dpone_dagster import DponeResource, build_dpone_asset_checks, build_dpone_assets

EVENTS = dg.AssetKey(["analytics", "events"])


def _db(events: Path) -> Path:
    return events.parent / "warehouse.duckdb"


def _results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_check_only_run_checks_the_table_and_loads_nothing(events: Path, instance: dg.DagsterInstance) -> None:
    edit_manifest(events, partitions=None)
    assets = build_dpone_assets(events)
    resources = {"dpone": DponeResource()}
    assert dg.materialize(assets, instance=instance, resources=resources).success
    with duckdb.connect(str(_db(events))) as con:
        con.execute("UPDATE analytics.events SET amount = -1 WHERE id IN (3, 4)")
        con.execute("INSERT INTO analytics.events VALUES (100, TIMESTAMPTZ '2024-01-09 00:00:00+00', 1.0)")
    checks = dg.AssetSelection.checks_for_assets(EVENTS)
    job = dg.define_asset_job("checks_only", selection=checks)
    defs = dg.Definitions(assets=assets, jobs=[job], resources=resources)
    result = defs.resolve_job_def("checks_only").execute_in_process(instance=instance, raise_on_error=False)
    assert result.get_asset_materialization_events() == []  # nothing was loaded
    evaluations = _results(result)
    assert evaluations["amount_min"].passed is False
    assert evaluations["amount_min"].metadata["dpone/failed_rows"].value == 2
    assert evaluations["id_unique"].passed is True
    with duckdb.connect(str(_db(events)), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM analytics.events").fetchone() == (21,)


def _partition(key: str) -> dict[str, str]:
    # How the UI launches a partitioned check run: the partition tag on a checks-only job.
    return {"dagster/partition": key}


def test_check_only_run_of_one_partition(events: Path, instance: dg.DagsterInstance) -> None:
    assets = build_dpone_assets(events)
    resources = {"dpone": DponeResource()}
    for day in ("2024-01-01", "2024-01-02"):
        assert dg.materialize(assets, instance=instance, resources=resources, partition_key=day).success
    with duckdb.connect(str(_db(events))) as con:
        con.execute("UPDATE analytics.events SET amount = -1 WHERE id = 5")  # a 2024-01-02 event
    job = dg.define_asset_job("checks_only", selection=dg.AssetSelection.checks_for_assets(EVENTS))
    defs = dg.Definitions(assets=assets, jobs=[job], resources=resources)
    job_def = defs.resolve_job_def("checks_only")
    first = job_def.execute_in_process(instance=instance, tags=_partition("2024-01-01"), raise_on_error=False)
    assert _results(first)["amount_min"].passed is True
    second = job_def.execute_in_process(instance=instance, tags=_partition("2024-01-02"), raise_on_error=False)
    assert _results(second)["amount_min"].passed is False
    assert _results(second)["amount_min"].metadata["dpone/partitions"].value == ["2024-01-02"]


def test_audit_checks_row_count_and_freshness(events: Path, instance: dg.DagsterInstance) -> None:
    edit_manifest(events, partitions=None)
    assets = build_dpone_assets(events)
    checks = build_dpone_asset_checks(events, max_age="1h", blocking=True)
    assert {s.name for c in checks for s in c.check_specs} == {"dpone_row_count", "dpone_freshness"}
    assert all(s.blocking for c in checks for s in c.check_specs)
    resources = {"dpone": DponeResource()}
    assert dg.materialize(assets, instance=instance, resources=resources).success
    defs = dg.Definitions(assets=assets, asset_checks=checks, resources=resources)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_check_selection=set(checks[0].check_keys))
    fresh = _results(job.execute_in_process(instance=instance))
    assert fresh["dpone_row_count"].passed and fresh["dpone_freshness"].passed
    with duckdb.connect(str(_db(events))) as con:
        con.execute("DELETE FROM analytics.events WHERE id <= 2")
    stale = _results(job.execute_in_process(instance=instance, raise_on_error=False))
    assert stale["dpone_row_count"].passed is False
    assert stale["dpone_row_count"].metadata["dpone/failed_rows"].value == 2
    assert "account for 20" in (stale["dpone_row_count"].description or "")
