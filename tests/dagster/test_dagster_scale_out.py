"""Chunked scale-out in Dagster: mapped extract steps, one finalize, exactly once (in-process and multiprocess)."""

import importlib
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_helpers import edit_manifest

from dpone_dagster import DponeResource, DponeTranslator, build_dpone_assets

EVENTS = dg.AssetKey(["analytics", "events"])
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]


def _value_chunks(events: Path) -> Path:
    # Value partitions on a text column: one chunk per day of the 5-day fixture.
    csv = events.parent / "data" / "events.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0] + ",day", *[f"{line},{line.split(',')[1][:10]}" for line in lines[1:]]]) + "\n")
    edit_manifest(events, partitions=None)
    edit_manifest(events, partitions={"column": "day", "values": DAYS})
    return events


def _target(events: Path) -> tuple[int, int]:
    with duckdb.connect(str(events.parent / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM analytics.events").fetchone()
        loads = con.execute("SELECT count(*) FROM __dpone__loads WHERE status = 'committed'").fetchone()
    assert rows is not None and loads is not None
    return int(rows[0]), int(loads[0])


def test_value_chunks_extract_in_mapped_steps_and_commit_once(events: Path, instance: dg.DagsterInstance) -> None:
    _value_chunks(events)
    assets = build_dpone_assets(events, translator=DponeTranslator(scale_out=True))
    assert assets[0].partitions_def is None  # chunks of one load, not Dagster partitions
    result = dg.materialize(assets, instance=instance, resources={"dpone": DponeResource()})
    assert result.success
    steps = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS}
    extracts = {f"dpone_events.events__extract[{d.replace('-', '_')}]" for d in DAYS}
    assert {s for s in steps if "__extract" in s} == extracts
    assert "dpone_events.events__finalize" in steps
    [materialization] = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert metadata["dpone/inserted_rows"].value == 20 and metadata["dagster/row_count"].value == 20
    assert metadata["dpone/chunks"].value == DAYS
    assert {e.check_name for e in result.get_asset_check_evaluations()} >= {"id_unique", "amount_min"}
    assert _target(events) == (20, 1)  # one load, one audit row


def test_key_ranges_always_scale_out(events: Path) -> None:
    edit_manifest(events, partitions=None)
    edit_manifest(events, partitions={"column": "id", "ranges": 3})
    [asset] = [a for a in build_dpone_assets(events) if isinstance(a, dg.AssetsDefinition)]
    assert asset.node_def.name == "dpone_events"
    assert {n.name for n in asset.node_def.node_defs} == {"events__chunks", "events__extract", "events__finalize"}


DEFS = """
import dagster as dg
from dpone_dagster import DponeResource, DponeTranslator, build_dpone_assets

defs = dg.Definitions(
    assets=build_dpone_assets({manifest!r}, translator=DponeTranslator(scale_out=True)),
    jobs=[dg.define_asset_job("chunked", selection="*")],
    resources={{"dpone": DponeResource()}},
)


def chunked_job():
    return defs.resolve_job_def("chunked")
"""


def test_multiprocess_executor_and_reexecution_load_exactly_once(
    events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _value_chunks(events)
    defs_file = tmp_path / "scale_defs.py"
    defs_file.write_text(DEFS.format(manifest=str(events)))
    # A run of the job, then a re-execution of its finalize step alone: the step shares the root
    # run's dpone run id, finds the load committed and skips it, so nothing is loaded twice.
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # the step processes import the defs module from the working directory
    job = dg.reconstructable(importlib.import_module("scale_defs").chunked_job)
    (tmp_path / "home2").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home2")) as instance:
        first = dg.execute_job(job, instance=instance)  # the default executor: one process per step
        assert first.success
        assert _target(events) == (20, 1)
        starts = instance.all_logs(first.run_id, of_type=dg.DagsterEventType.STEP_START)
        pids = {e.dagster_event.step_key: e.dagster_event.pid for e in starts if e.dagster_event}
        assert len({pid for key, pid in pids.items() if key and "__extract" in key}) == len(DAYS), pids
        finalize = ["dpone_events.events__finalize"]
        options = dg.ReexecutionOptions(parent_run_id=first.run_id, step_selection=finalize)
        again = dg.execute_job(job, instance=instance, reexecution_options=options)
        assert again.success
        [materialization] = again.get_asset_materialization_events()
        assert materialization.materialization.metadata["dpone/status"].value == "skipped"
    assert _target(events) == (20, 1)
