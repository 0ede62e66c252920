"""Dagster assets carry column lineage to their source table's asset, from dpone's lineage rule."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import yaml

from dpone_dagster import DponeResource, build_dpone_assets


def test_a_table_source_gives_column_lineage_to_its_upstream_asset(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    with duckdb.connect(str(tmp_path / "raw.duckdb")) as con:
        con.execute("CREATE SCHEMA crm")
        con.execute("CREATE TABLE crm.customers AS SELECT range AS id, 'c' || range AS email FROM range(7)")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "connections": {
                    "raw": {"type": "duckdb", "path": "raw.duckdb"},
                    "warehouse": {"type": "duckdb", "path": "warehouse.duckdb"},
                },
                "processes": [
                    {
                        "name": "customers",
                        "source": {"connection": "raw", "table": "crm.customers", "columns": ["id", "email"]},
                        "sink": {"connection": "warehouse", "table": "mart.customers", "strategy": "full_refresh"},
                        "schema_contract": {"columns": {"id": {"type": "int64"}, "email": {"type": "string"}}},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    assets = build_dpone_assets(manifest)
    # Known at definition time, from the contract's columns and the table source.
    spec = next(a for a in assets if isinstance(a, dg.AssetsDefinition)).specs_by_key[
        dg.AssetKey(["mart", "customers"])
    ]
    declared = spec.metadata["dagster/column_lineage"]
    assert set(declared.deps_by_column) == {"id", "email"}
    assert declared.deps_by_column["id"][0].asset_key == dg.AssetKey(["crm", "customers"])
    result = dg.materialize(assets, instance=instance, resources={"dpone": DponeResource()})
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    lineage = metadata["dagster/column_lineage"].value
    upstream = dg.AssetKey(["crm", "customers"])
    assert lineage.deps_by_column == {
        "id": [dg.TableColumnDep(asset_key=upstream, column_name="id")],
        "email": [dg.TableColumnDep(asset_key=upstream, column_name="email")],
    }
    assert metadata["dagster/row_count"].value == 7
