"""ClickHouse under the orchestrators: a Dagster asset of kind clickhouse, an Airflow Connection's fields."""

from __future__ import annotations

import pytest
import yaml

from tests.integration.clickhouse.conftest import ChDatabase


def test_a_dagster_asset_into_clickhouse_has_its_kind_and_materialises(ch: ChDatabase) -> None:
    dg = pytest.importorskip("dagster")
    from dpone_dagster import DponeResource, build_dpone_assets

    (ch.folder / "in").mkdir()
    (ch.folder / "in" / "d.csv").write_text("id,v\n1,a\n2,b\n", encoding="utf-8")
    doc = {
        "version": 1,
        "connections": {"inbox": {"type": "files", "root": "in"}, "ch": ch.profile()},
        "processes": [{"name": "p", "source": {"connection": "inbox", "path": "d.csv", "format": "csv"},
                       "sink": {"connection": "ch", "table": "t", "strategy": "merge", "primary_key": ["id"]}}],
    }  # fmt: skip
    manifest = ch.folder / "m.yaml"
    manifest.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assets = build_dpone_assets(manifest)
    spec = next(iter(assets[0].specs))
    assert spec.kinds == {"dpone", "files", "clickhouse"}
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(assets, instance=instance, resources={"dpone": DponeResource()})
    assert result.success
    assert ch.sql("SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b")]


def test_an_airflow_clickhouse_connection_maps_every_field() -> None:
    from dpone_core.connectors.clickhouse import SPEC
    from dpone_core.spi.airflow import ConnectionFields

    assert SPEC.airflow is not None
    fields = ConnectionFields(
        "dw", "clickhouse", "ch1", None, "analytics", "loader", "s3cret",
        {"secure": "true", "compression": "zstd", "settings": {"max_threads": 4}},
    )  # fmt: skip
    profile = SPEC.airflow.to_profile(fields, lambda key, value: "${airflow:dw/" + key + "}")
    assert profile == {
        "type": "clickhouse", "host": "ch1", "database": "analytics", "user": "loader",
        "password": "${airflow:dw/password}", "secure": True, "compression": "zstd", "settings": {"max_threads": 4},
    }  # fmt: skip
    parsed = SPEC.profile.model_validate({**profile, "password": "${env:CH_PASSWORD}"})  # outside Airflow
    assert parsed.default_port() == 8443  # type: ignore[attr-defined]
