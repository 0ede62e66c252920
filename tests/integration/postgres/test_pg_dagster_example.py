"""The Dagster Postgres example (dags_examples/dagster/postgres) materialised against a real Postgres."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from tests.integration.postgres.conftest import REPO, PgDatabase

pytestmark = pytest.mark.integration
dg = pytest.importorskip("dagster")

EXAMPLE = REPO / "dags_examples" / "dagster" / "postgres" / "orders_from_postgres.yaml"


def test_the_postgres_example_materialises_incrementally_with_its_checks(
    pg: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dpone_dagster import DponeResource, build_dpone_assets

    pg.sql("CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(18,2), updated_at timestamptz NOT NULL)")
    pg.sql(
        "INSERT INTO orders SELECT g, CASE WHEN g = 7 THEN -1 ELSE g * 1.5 END, "
        "timestamptz '2026-01-01 00:00+00' + g * interval '1 hour' FROM generate_series(1, 50) g"
    )
    manifest = pg.folder / "orders_from_postgres.yaml"
    shutil.copy(EXAMPLE, manifest)
    for name, value in {
        "PGHOST": pg.server.host,
        "PGPORT": str(pg.server.port),
        "PGDATABASE": pg.name,
        "PGUSER": pg.server.user,
        "PGPASSWORD": pg.server.password,
    }.items():
        monkeypatch.setenv(name, value)
    assets = build_dpone_assets(manifest)
    key = dg.AssetKey(["staging", "pg_orders"])
    result = dg.materialize(assets, resources={"dpone": DponeResource()}, selection=[key])
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dagster/row_count"].value == 49  # one negative amount quarantined
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["amount_min"].passed is False and checks["amount_min"].metadata["dpone/failed_rows"].value == 1
    assert checks["id_type"].passed

    pg.sql("UPDATE orders SET amount = 99, updated_at = timestamptz '2026-03-01 00:00+00' WHERE id = 3")
    again = dg.materialize(assets, resources={"dpone": DponeResource()}, selection=[key])
    assert again.success
    warehouse = pg.folder / ".dpone" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*), max(amount) FROM staging.pg_orders").fetchone() == (49, 99)
        loads = con.execute("SELECT rows_extracted FROM __dpone__loads ORDER BY finished_at").fetchall()
    # The second run read from the committed cursor minus the 1h lookback: ids 49 and 50, and the updated id 3.
    assert loads[-1][0] == 3


def test_a_password_from_the_resources_secrets_config(pg: PgDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """``${dagster:pg_password}`` resolves from ``DponeResource(secrets=...)``, set with ``dg.EnvVar``."""
    from dpone_dagster import DponeResource, build_dpone_assets

    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 5) g")
    profile = {**pg.profile(), "password": "${dagster:pg_password}"}
    manifest = pg.manifest(
        [
            {
                "name": "copy",
                "source": {"connection": "pg", "table": "public.src"},
                "sink": {"connection": "wh", "table": "main.dst", "strategy": "full_refresh"},
            }
        ],
        connections={"pg": profile, "wh": {"type": "duckdb", "path": "wh.duckdb"}},
    )
    monkeypatch.setenv("DPONE_TEST_DAGSTER_PW", pg.server.password)
    assets = build_dpone_assets(manifest)
    missing = dg.materialize(assets, resources={"dpone": DponeResource()}, raise_on_error=False)
    assert not missing.success
    failure = missing.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and "has no secret pg_password" in failure.message
    assert pg.server.password not in failure.message

    resource = DponeResource(secrets={"pg_password": dg.EnvVar("DPONE_TEST_DAGSTER_PW")})
    assert dg.materialize(assets, resources={"dpone": resource}).success
    with duckdb.connect(str(pg.folder / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), max(v) FROM main.dst").fetchone() == (5, "v5")


def test_key_range_chunks_extract_in_parallel_steps_and_commit_once(pg: PgDatabase) -> None:
    """A Postgres source split into key ranges: one mapped extract step per range, one finalize."""
    from dpone_dagster import DponeResource, build_dpone_assets

    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 1000) g")
    manifest = pg.manifest(
        [
            {
                "name": "copy",
                "source": {"connection": "pg", "table": "public.src"},
                "sink": {"connection": "wh", "table": "main.dst", "strategy": "merge", "primary_key": ["id"]},
                "partitions": {"column": "id", "ranges": 4, "chunk_dir": "chunks"},
            }
        ],
        connections={"pg": pg.profile(), "wh": {"type": "duckdb", "path": "wh.duckdb"}},
    )
    assets = build_dpone_assets(manifest)
    chunked = next(a for a in assets if isinstance(a, dg.AssetsDefinition))
    assert chunked.asset_deps[dg.AssetKey(["main", "dst"])] == {dg.AssetKey(["public", "src"])}
    result = dg.materialize(assets, resources={"dpone": DponeResource()})
    assert result.success
    extracts = [
        e.step_key
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_SUCCESS and "__extract" in e.step_key
    ]
    assert len(extracts) == 4
    [materialization] = result.get_asset_materialization_events()
    assert materialization.materialization.metadata["dpone/inserted_rows"].value == 1000
    with duckdb.connect(str(pg.folder / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM main.dst").fetchone() == (1000, 1000)
        assert con.execute("SELECT count(*) FROM __dpone__loads").fetchone() == (1,)
