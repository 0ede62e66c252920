"""Partitions: Dagster keys equal dpone's keys, and a backfill of N partitions equals one full load."""

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
from dagster_helpers import edit_manifest

import dpone_core
from dpone_core.manifest.process import Partitions
from dpone_core.runtime.partitions import partition_keys
from dpone_dagster import DponeResource, build_dpone_assets, filter_to_partitions, partitions_def_for

EVENTS = dg.AssetKey(["analytics", "events"])
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]


def target(manifest: Path) -> list[tuple]:
    with duckdb.connect(str(manifest.parent / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("SELECT id, happened_at, amount FROM analytics.events ORDER BY id").fetchall()


def test_partition_keys_match_dpone(events: Path) -> None:
    process = dpone_core.processes(events)[0]
    partitions_def = build_dpone_assets(events)[0].partitions_def
    assert isinstance(partitions_def, dg.TimeWindowPartitionsDefinition)
    assert partitions_def.get_partition_keys() == partition_keys(process.partitions)
    assert partitions_def.get_partition_keys()[:5] == DAYS


@pytest.mark.parametrize(
    ("block", "first_keys"),
    [
        ({"column": "happened_at", "grain": "month", "start": "2024-03-15"}, ["2024-03", "2024-04"]),
        ({"column": "happened_at", "grain": "week", "start": "2024-01-01"}, ["2024-01-01", "2024-01-08"]),
        (
            {"column": "happened_at", "grain": "hour", "start": "2024-01-01T22:00:00"},
            ["2024-01-01T22", "2024-01-01T23"],
        ),
        ({"column": "region", "values": ["eu", "us"]}, ["eu", "us"]),
    ],
)
def test_grains_and_values(events: Path, block: dict, first_keys: list[str]) -> None:
    edit_manifest(events, partitions=None)
    edit_manifest(events, partitions=block)
    process = dpone_core.processes(events)[0]
    keys = partitions_def_for(process).get_partition_keys()
    assert keys[:2] == first_keys
    if "grain" in block and block["grain"] != "hour":
        assert keys == partition_keys(process.partitions)


def test_key_ranges_have_no_dagster_partitions(events: Path) -> None:
    edit_manifest(events, partitions=None)
    edit_manifest(events, partitions={"column": "id", "ranges": 4})
    assert partitions_def_for(dpone_core.processes(events)[0]) is None


def test_single_partition_loads_exactly_that_slice(events: Path, instance: dg.DagsterInstance) -> None:
    result = dg.materialize(
        build_dpone_assets(events), instance=instance, resources={"dpone": DponeResource()}, partition_key="2024-01-02"
    )
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dpone/inserted_rows"].value == 4
    assert metadata["dpone/run_ids"].value == [f"dagster-{result.run_id}-2024-01-02"]
    assert [row[0] for row in target(events)] == [5, 6, 7, 8]


def test_backfill_equals_full_load(events: Path, tmp_path: Path, instance: dg.DagsterInstance) -> None:
    full = tmp_path / "full"
    shutil.copytree(events.parent, full)
    report = dpone_core.run(full / "events.yaml")
    assert report.passed and report.result.inserted_rows == 20

    assets = build_dpone_assets(events)
    # One run per partition (Dagster's default backfill) for the first two days ...
    for day in DAYS[:2]:
        dg.materialize(assets, instance=instance, resources={"dpone": DponeResource()}, partition_key=day)
    # ... and a single run over a range for the rest, overlapping one day already loaded.
    result = dg.materialize(
        assets,
        instance=instance,
        resources={"dpone": DponeResource()},
        tags={"dagster/asset_partition_range_start": DAYS[1], "dagster/asset_partition_range_end": DAYS[4]},
    )
    materializations = result.get_asset_materialization_events()
    assert [m.partition for m in materializations] == DAYS[1:]
    metadata = materializations[0].materialization.metadata
    assert metadata["dpone/partitions"].value == DAYS[1:]
    # Each partition reports its own load, the table's total is extra.
    assert metadata["dpone/extracted_rows"].value == 4
    assert metadata["dagster/partition_row_count"].value == 4
    assert metadata["dagster/row_count"].value == 20
    assert target(events) == target(full / "events.yaml")
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)


def test_filter_to_partitions_is_vectorised() -> None:
    import datetime as dt

    utc = dt.UTC
    table = pa.table(
        {
            "at": pa.array([dt.datetime(2024, 1, d, 12, tzinfo=utc) for d in (1, 2, 2, 3)], pa.timestamp("us", "UTC")),
            "day": pa.array([dt.date(2024, 1, d) for d in (1, 2, 2, 3)]),
            "region": ["eu", "us", "eu", "ap"],
        }
    )
    assert (
        filter_to_partitions(table, Partitions(column="at", grain="day", start="2024-01-01"), ["2024-01-02"]).num_rows
        == 2
    )
    assert (
        filter_to_partitions(
            table, Partitions(column="day", grain="day", start="2024-01-01"), ["2024-01-01", "2024-01-03"]
        ).num_rows
        == 2
    )
    assert filter_to_partitions(table, Partitions(column="region", values=["eu", "us", "ap"]), ["eu"]).num_rows == 2
    assert filter_to_partitions(table, Partitions(column="region", values=["eu"]), []).num_rows == 0
