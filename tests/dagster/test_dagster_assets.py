"""End to end: the quickstart manifest materialised as Dagster assets, and what the specs carry."""

import time
from pathlib import Path

import dagster as dg
import duckdb

from dpone_dagster import DponeResource, DponeTranslator, build_dpone_assets, dpone_assets

ORDERS = dg.AssetKey(["analytics", "orders"])
QUARANTINED = {"amount_type": 41, "amount_min": 41, "status_allowed": 42, "email_regex": 41}


def target_rows(manifest: Path, table: str = "analytics.orders") -> int:
    with duckdb.connect(str(manifest.parent / ".dpone" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_materialize_quickstart_end_to_end(quickstart: Path, instance: dg.DagsterInstance) -> None:
    started = time.monotonic()
    result = dg.materialize(build_dpone_assets(quickstart), instance=instance, resources={"dpone": DponeResource()})
    assert result.success
    assert target_rows(quickstart) == 3835
    materializations = result.get_asset_materialization_events()
    assert [m.asset_key for m in materializations] == [ORDERS]
    assert time.monotonic() - started < 30


def test_materialization_metadata(quickstart: Path, instance: dg.DagsterInstance) -> None:
    result = dg.materialize(build_dpone_assets(quickstart), instance=instance, resources={"dpone": DponeResource()})
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dagster/row_count"].value == 3835
    assert metadata["dpone/extracted_rows"].value == 4000
    assert metadata["dpone/inserted_rows"].value == 3835
    assert metadata["dpone/quarantined_rows"].value == 165
    assert metadata["dpone/status"].value == "succeeded"
    assert metadata["dpone/run_id"].value == f"dagster-{result.run_id}"
    schema = metadata["dagster/column_schema"].schema
    assert [c.name for c in schema.columns] == ["id", "customer_id", "amount", "status", "email", "updated_at"]
    assert schema.columns[0].type == "BIGINT" and schema.columns[0].constraints.nullable is False  # physical type
    assert "dagster/column_lineage" not in metadata  # a file source has no upstream table asset
    assert metadata["dpone/state_before"].value is None
    after = metadata["dpone/state_after"].value
    assert after["cursor_column"] == "updated_at" and after["run_id"] == f"dagster-{result.run_id}"
    evidence = Path(metadata["dpone/evidence_path"].value)
    assert evidence.name == "data_contract_evidence.json" and evidence.exists()
    assert metadata["dpone/duration_seconds"].value > 0
    assert "# dpone run: orders" in metadata["dpone/report"].value

    # A second Dagster run is a new dpone run: the cursor moved, so nothing new is read.
    again = dg.materialize(build_dpone_assets(quickstart), instance=instance, resources={"dpone": DponeResource()})
    second = again.get_asset_materialization_events()[0].materialization.metadata
    assert second["dpone/extracted_rows"].value == 0
    assert second["dagster/row_count"].value == 3835
    assert second["dpone/state_before"].value["run_id"] == f"dagster-{result.run_id}"


def test_contract_rules_become_checks_with_run_verdicts(quickstart: Path, instance: dg.DagsterInstance) -> None:
    result = dg.materialize(build_dpone_assets(quickstart), instance=instance, resources={"dpone": DponeResource()})
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert len(evaluations) == 14
    for name, rows in QUARANTINED.items():
        assert evaluations[name].passed is False
        assert evaluations[name].severity == dg.AssetCheckSeverity.WARN
        assert evaluations[name].metadata["dpone/failed_rows"].value == rows
        assert evaluations[name].metadata["dpone/verdict"].value == "quarantined"
        assert evaluations[name].metadata["dpone/quarantine_paths"].value
    passed = {name for name, e in evaluations.items() if e.passed}
    assert passed == set(evaluations) - set(QUARANTINED)
    assert {"id_unique", "id_not_null", "updated_at_type"} <= passed


def test_spec_carries_manifest_attributes(quickstart: Path) -> None:
    assets = build_dpone_assets(quickstart)
    assert len(assets) == 1  # a files source has no source table asset
    spec = next(iter(assets[0].specs))
    assert spec.key == ORDERS
    assert spec.group_name == "sales"
    assert spec.owners == ["team:data-eng"]
    assert set(spec.tags) >= {"quickstart", "sales"}
    assert spec.kinds == {"dpone", "files", "duckdb"}
    assert spec.description == "Orders from the shop export, upserted into the warehouse."
    assert spec.metadata["dpone/process"] == "orders"
    assert spec.metadata["dagster/table_name"] == "analytics.orders"
    assert [c.name for c in spec.metadata["dagster/column_schema"].columns][:2] == ["id", "customer_id"]
    assert {c.name for c in assets[0].check_specs} >= {"amount_min", "id_unique", "status_allowed"}
    assert assets[0].op.retry_policy is None and assets[0].op.pool is None


def test_retry_and_concurrency_key_map_to_policy_and_pool(quickstart: Path) -> None:
    from dagster_helpers import edit_manifest

    edit_manifest(
        quickstart,
        retry={"attempts": 3, "backoff_seconds": 2, "backoff": "exponential"},
        orchestration={"concurrency_key": "warehouse_writes", "group": "sales"},
    )
    assets_def = build_dpone_assets(quickstart)[0]
    assert assets_def.op.retry_policy == dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL)
    assert assets_def.op.pool == "warehouse_writes"


def test_dependencies_from_depends_on_and_source_tables(quickstart: Path) -> None:
    from dagster_helpers import edit_manifest

    doc_path = edit_manifest(quickstart)
    import yaml

    doc = yaml.safe_load(doc_path.read_text())
    doc["processes"].append(
        {
            "name": "orders_copy",
            "depends_on": ["orders"],
            "source": {"connection": "warehouse", "table": "analytics.orders"},
            "sink": {"connection": "warehouse", "table": "mart.orders_copy", "strategy": "full_refresh"},
        }
    )
    doc["processes"].append(
        {
            "name": "customers",
            "source": {"connection": "warehouse", "table": "raw.customers"},
            "sink": {"connection": "warehouse", "table": "mart.customers", "strategy": "full_refresh"},
        }
    )
    doc_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assets = build_dpone_assets(doc_path)
    defs = dg.Definitions(assets=assets, resources={"dpone": DponeResource()})
    graph = defs.resolve_asset_graph()
    copy = dg.AssetKey(["mart", "orders_copy"])
    assert graph.get(copy).parent_keys == {ORDERS}
    assert graph.get(dg.AssetKey(["mart", "customers"])).parent_keys == {dg.AssetKey(["raw", "customers"])}
    externals = [a for a in assets if isinstance(a, dg.AssetSpec)]
    assert [s.key for s in externals] == [dg.AssetKey(["raw", "customers"])]
    assert externals[0].kinds == {"duckdb"}


def test_dpone_assets_decorator_runs_several_processes_in_order(quickstart: Path, instance: dg.DagsterInstance) -> None:
    import yaml

    doc = yaml.safe_load(quickstart.read_text())
    # A CSV source: a DuckDB source on the sink's own database file fails in the core today
    # (ResourceInUseException: the shared connection has an open result while staging).
    doc["processes"].append(
        {
            "name": "orders_copy",
            "depends_on": ["orders"],
            "source": {"connection": "inbox", "path": "orders*.csv", "format": "csv"},
            "sink": {"connection": "warehouse", "table": "mart.orders_copy", "strategy": "full_refresh"},
        }
    )
    quickstart.write_text(yaml.safe_dump(doc, sort_keys=False))

    @dpone_assets(manifest=quickstart, name="quickstart_loads")
    def loads(context: dg.AssetExecutionContext, dpone: DponeResource):
        yield from dpone.run(context)

    assert loads.can_subset
    result = dg.materialize([loads], instance=instance, resources={"dpone": DponeResource()})
    assert [m.asset_key for m in result.get_asset_materialization_events()] == [
        ORDERS,
        dg.AssetKey(["mart", "orders_copy"]),
    ]
    assert target_rows(quickstart, "mart.orders_copy") == 4000

    only_copy = dg.materialize(
        [loads],
        instance=instance,
        resources={"dpone": DponeResource()},
        selection=[dg.AssetKey(["mart", "orders_copy"])],
    )
    assert [m.asset_key for m in only_copy.get_asset_materialization_events()] == [dg.AssetKey(["mart", "orders_copy"])]


def test_translator_override(quickstart: Path) -> None:
    class WarehouseTranslator(DponeTranslator):
        def get_asset_key(self, process, manifest):
            return super().get_asset_key(process, manifest).with_prefix("warehouse")

        def get_group_name(self, process, manifest):
            return "loads"

    assets_def = build_dpone_assets(quickstart, translator=WarehouseTranslator())[0]
    spec = next(iter(assets_def.specs))
    assert spec.key == dg.AssetKey(["warehouse", "analytics", "orders"])
    assert spec.group_name == "loads"
    assert {c.asset_key for c in assets_def.check_specs} == {spec.key}


def test_translator_override_of_whole_spec_still_runs(quickstart: Path, instance: dg.DagsterInstance) -> None:
    class Renamed(DponeTranslator):
        def get_asset_spec(self, process, manifest):
            return super().get_asset_spec(process, manifest).replace_attributes(key=["shop", process.name])

    assets = build_dpone_assets(quickstart, translator=Renamed())
    result = dg.materialize(assets, instance=instance, resources={"dpone": DponeResource()})
    assert [m.asset_key for m in result.get_asset_materialization_events()] == [dg.AssetKey(["shop", "orders"])]
    assert len(result.get_asset_check_evaluations()) == 14


def test_evidence_dir_override(quickstart: Path, tmp_path: Path, instance: dg.DagsterInstance) -> None:
    evidence_dir = tmp_path / "evidence"
    result = dg.materialize(
        build_dpone_assets(quickstart),
        instance=instance,
        resources={"dpone": DponeResource(evidence_dir=str(evidence_dir))},
    )
    path = Path(result.get_asset_materialization_events()[0].materialization.metadata["dpone/evidence_path"].value)
    assert evidence_dir in path.parents and path.exists()
