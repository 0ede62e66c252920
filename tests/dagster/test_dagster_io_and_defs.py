"""The IO manager reading what dpone loaded, the example Definitions, and the component from a defs.yaml."""

import importlib.util
import shutil
import sys
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
import yaml

from dpone_core.api import read_target
from dpone_dagster import (
    DponeIOManager,
    DponeManifestComponent,
    DponeResource,
    DponeTranslator,
    build_dpone_assets,
    partitions_def_for,
)

REPO = Path(__file__).resolve().parents[2]
ORDERS = dg.AssetKey(["analytics", "orders"])
RESOURCES = {"dpone": DponeResource(), "dpone_io_manager": DponeIOManager()}


def downstream(kind: type, name: str) -> dg.AssetsDefinition:
    @dg.asset(name=name, ins={"orders": dg.AssetIn(key=ORDERS, input_manager_key="dpone_io_manager")})
    def _count(orders: kind) -> int:  # type: ignore[valid-type]
        assert isinstance(orders, kind)
        return len(orders)

    return _count


def test_io_manager_reads_the_loaded_table_as_arrow(quickstart: Path, instance: dg.DagsterInstance) -> None:
    result = dg.materialize(
        [*build_dpone_assets(quickstart), downstream(pa.Table, "arrow_rows")], instance=instance, resources=RESOURCES
    )
    assert result.output_for_node("arrow_rows") == 3835


def test_io_manager_hands_over_pandas_and_polars(quickstart: Path, instance: dg.DagsterInstance) -> None:
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    assets = build_dpone_assets(quickstart)
    dg.materialize(assets, instance=instance, resources=RESOURCES)
    result = dg.materialize(
        [*assets, downstream(pd.DataFrame, "pandas_rows"), downstream(pl.DataFrame, "polars_rows")],
        instance=instance,
        resources=RESOURCES,
        selection=[dg.AssetKey("pandas_rows"), dg.AssetKey("polars_rows")],
    )
    assert result.output_for_node("pandas_rows") == 3835
    assert result.output_for_node("polars_rows") == 3835


def test_io_manager_key_on_specs_and_partitioned_inputs(events: Path, instance: dg.DagsterInstance) -> None:
    import dpone_core

    assets = build_dpone_assets(events, translator=DponeTranslator(io_manager_key="dpone_io_manager"))
    partitions_def = partitions_def_for(dpone_core.processes(events)[0])

    @dg.asset(partitions_def=partitions_def, ins={"events": dg.AssetIn(key=["analytics", "events"])})
    def daily_total(events: pa.Table) -> float:
        return float(sum(events.column("amount").to_pylist()))

    for day in ("2024-01-01", "2024-01-02"):
        dg.materialize(assets, instance=instance, resources=RESOURCES, partition_key=day)
    result = dg.materialize(
        [*assets, daily_total],
        instance=instance,
        resources=RESOURCES,
        partition_key="2024-01-02",
        selection=[dg.AssetKey("daily_total")],
    )
    assert result.output_for_node("daily_total") == sum(i * 1.5 for i in (5, 6, 7, 8))


def test_io_manager_refuses_to_store_values(quickstart: Path, instance: dg.DagsterInstance) -> None:
    @dg.asset(io_manager_key="dpone_io_manager")
    def not_dpone() -> int:
        return 1

    result = dg.materialize([not_dpone], instance=instance, resources=RESOURCES, raise_on_error=False)
    assert not result.success
    assert "only reads dpone-managed tables" in result.get_step_failure_events()[0].step_failure_data.error.message


def _load_example(monkeypatch: pytest.MonkeyPatch, manifest: Path):
    monkeypatch.setenv("DPONE_QUICKSTART_MANIFEST", str(manifest))
    spec = importlib.util.spec_from_file_location(
        f"dpone_example_defs_{id(manifest)}", REPO / "dags_examples" / "dagster" / "definitions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.defs


def test_example_definitions_load_and_run(
    quickstart: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    defs = _load_example(monkeypatch, quickstart)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "analytics/orders",
        "staging/pg_orders",
        "public/orders",
        "revenue_by_status",
    }
    assert graph.get(dg.AssetKey(["staging", "pg_orders"])).parent_keys == {dg.AssetKey(["public", "orders"])}
    pg = defs.resolve_assets_def(dg.AssetKey(["staging", "pg_orders"]))
    assert pg.op.pool == "shop_postgres" and pg.op.retry_policy.max_retries == 3

    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=[ORDERS, dg.AssetKey("revenue_by_status")])
    assert result.success
    revenue = [m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey("revenue_by_status")]
    metadata = revenue[0].materialization.metadata
    expected = read_target(quickstart, "orders").column("amount").to_pylist()
    assert metadata["total_revenue"].value == pytest.approx(float(sum(expected)))
    assert metadata["statuses"].value == 4


def test_component_from_defs_yaml(quickstart: Path, instance: dg.DagsterInstance) -> None:
    from dagster.components.testing import create_defs_folder_sandbox

    with create_defs_folder_sandbox() as sandbox:
        folder = sandbox.defs_folder_path / "orders"
        folder.mkdir(parents=True)
        shutil.copy(quickstart, folder / "orders.yaml")
        shutil.copytree(quickstart.parent / "data", folder / "data")
        (folder / "defs.yaml").write_text(
            yaml.safe_dump(
                {
                    "type": "dpone_dagster.DponeManifestComponent",
                    "attributes": {"manifest": "orders.yaml", "evidence_dir": str(quickstart.parent / "evidence")},
                }
            )
        )
        with sandbox.load_component_and_build_defs(defs_path=folder) as (component, defs):
            assert isinstance(component, DponeManifestComponent)
            assert component.manifest == "orders.yaml"
            assets_def = defs.resolve_assets_def(ORDERS)
            assert len(assets_def.check_specs) == 14
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)
            assert result.success
            metadata = result.get_asset_materialization_events()[0].materialization.metadata
            assert metadata["dagster/row_count"].value == 3835
            assert Path(metadata["dpone/evidence_path"].value).is_relative_to(quickstart.parent / "evidence")
        sys.modules.pop(sandbox.project_name, None)


def test_example_project_component(monkeypatch: pytest.MonkeyPatch) -> None:
    project = REPO / "dags_examples" / "dagster" / "project"
    monkeypatch.syspath_prepend(str(project / "src"))
    defs = dg.load_from_defs_folder(path_within_project=project / "src" / "dpone_example")
    assert {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} == {"analytics/orders"}
    assert set(defs.resources) == {"dpone", "dpone_io_manager"}
