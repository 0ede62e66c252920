"""Partition ranges: single-run backfills by default, each partition with its own counts, via the real CLI."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster_helpers import edit_manifest

from dpone_dagster import DponeResource, build_dpone_assets

EVENTS = dg.AssetKey(["analytics", "events"])
RANGE = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-03"}


def test_time_partitions_default_to_single_run_backfills(events: Path) -> None:
    assert build_dpone_assets(events)[0].backfill_policy == dg.BackfillPolicy.single_run()
    edit_manifest(events, sink={"strategy": "full_refresh"})
    assert build_dpone_assets(events)[0].backfill_policy is None  # each key would replace the whole table
    edit_manifest(events, sink={"strategy": "merge"}, partitions=None)
    edit_manifest(events, partitions={"column": "amount", "values": ["1.5"]})
    assert build_dpone_assets(events)[0].backfill_policy is None
    edit_manifest(events, partitions=None)
    assert build_dpone_assets(events)[0].backfill_policy is None


def test_range_reports_each_partitions_own_load(events: Path, instance: dg.DagsterInstance) -> None:
    # Make the days differ: day 2 keeps one event, so a range total would show up.
    csv = events.parent / "data" / "events.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0], *lines[1:5], lines[5], *lines[9:]]) + "\n")
    result = dg.materialize(
        build_dpone_assets(events), instance=instance, resources={"dpone": DponeResource()}, tags=RANGE
    )
    by_key = {e.partition: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert sorted(by_key) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert {k: m["dagster/partition_row_count"].value for k, m in by_key.items()} == {
        "2024-01-01": 4,
        "2024-01-02": 1,
        "2024-01-03": 4,
    }
    assert {k: m["dpone/run_id"].value for k, m in by_key.items()} == {
        k: f"dagster-{result.run_id}-{k}" for k in by_key
    }
    assert all(m["dagster/row_count"].value == 9 for m in by_key.values())  # the table's total


def test_partition_range_with_the_dagster_cli(events: Path, tmp_path: Path) -> None:
    defs = tmp_path / "defs.py"
    defs.write_text(
        "import dagster as dg\nfrom dpone_dagster import DponeResource, build_dpone_assets\n\n"
        f"defs = dg.Definitions(assets=build_dpone_assets({str(events)!r}), resources={{'dpone': DponeResource()}})\n"
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    dagster = Path(sys.executable).parent / "dagster"
    if not dagster.is_file():
        pytest.skip("the dagster CLI is not next to this interpreter")
    args = [str(dagster), "asset", "materialize", "-f", str(defs), "--select", "analytics/events"]
    done = subprocess.run(
        [*args, "--partition-range", "2024-01-02...2024-01-04"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(home)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(EVENTS, limit=10).records
    by_key = {r.partition_key: r.asset_materialization.metadata for r in records if r.asset_materialization}
    assert sorted(by_key) == ["2024-01-02", "2024-01-03", "2024-01-04"]
    assert all(m["dagster/partition_row_count"].value == 4 for m in by_key.values())
    assert len({m["dpone/run_id"].value for m in by_key.values()}) == 3
