"""Postgres finalize fast paths (TRUNCATE for full_refresh, INSERT ... ON CONFLICT for merge) and their fallbacks."""

from __future__ import annotations

from typing import Any

import pytest

from dpone_core.model import TableRef
from dpone_core.strategies.plan import LoadPlan
from tests.integration.postgres.conftest import PgDatabase, run_ok

pytestmark = pytest.mark.integration


def _process(strategy: str, **sink: Any) -> dict[str, Any]:
    return {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": strategy, **sink},
    }


def _sink(pg: PgDatabase) -> Any:
    from dpone_core.connectors.postgres.profile import PostgresProfile
    from dpone_core.connectors.postgres.sink import PostgresSink

    profile = PostgresProfile.model_validate(pg.profile())
    return PostgresSink(profile, pg.folder, TableRef("public", "dst"), "__dpone_staging", None)


def _plan(strategy: str) -> LoadPlan:
    return LoadPlan(strategy, TableRef("public", "dst"), TableRef("s", "x"), ("id", "v"), ("id",))


def test_full_refresh_truncates_and_counts_the_old_rows(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 5) g")
    manifest = pg.manifest([_process("full_refresh", primary_key=["id"])])
    run_ok(manifest)
    pg.sql("DELETE FROM src WHERE id > 3")
    report = run_ok(manifest)
    assert (report.result.deleted_rows, report.result.inserted_rows) == (5, 3)
    assert pg.sql("SELECT id FROM dst ORDER BY id") == [(1,), (2,), (3,)]


def test_full_refresh_keeps_delete_when_a_foreign_key_or_delete_trigger_needs_it(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    manifest = pg.manifest([_process("full_refresh", primary_key=["id"])])
    run_ok(manifest)
    sink = _sink(pg)
    try:
        assert sink.strategy_renderer(_plan("full_refresh")).truncate
        pg.sql("CREATE TABLE child (id int REFERENCES dst (id))")
        assert not sink.strategy_renderer(_plan("full_refresh")).truncate
        pg.sql("DROP TABLE child")
        pg.sql(
            "CREATE TABLE gone (id int); CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO gone VALUES (OLD.id); RETURN OLD; END $$; "
            "CREATE TRIGGER keep_deleted AFTER DELETE ON dst FOR EACH ROW EXECUTE FUNCTION keep()"
        )
        assert not sink.strategy_renderer(_plan("full_refresh")).truncate
    finally:
        sink.close()
    report = run_ok(manifest)  # through DELETE: the trigger saw both old rows
    assert report.result.deleted_rows == 2
    assert pg.sql("SELECT id FROM gone ORDER BY id") == [(1,), (2,)]


def test_merge_upserts_counts_and_skips_unchanged_rows(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b'), (3, NULL)")
    manifest = pg.manifest([_process("merge", primary_key=["id"])])
    run_ok(manifest)
    sink = _sink(pg)
    try:
        assert sink.strategy_renderer(_plan("merge")).upsert
    finally:
        sink.close()
    pg.sql("UPDATE src SET v = 'B' WHERE id = 2; UPDATE src SET v = 'c' WHERE id = 3; INSERT INTO src VALUES (4, NULL)")
    report = run_ok(manifest)
    assert (report.result.inserted_rows, report.result.updated_rows) == (1, 2)
    assert pg.sql("SELECT id, v FROM dst ORDER BY id") == [(1, "a"), (2, "B"), (3, "c"), (4, None)]
    again = run_ok(manifest)
    assert (again.result.inserted_rows, again.result.updated_rows) == (0, 0)


def test_merge_without_a_unique_key_on_the_target_keeps_update_and_insert(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    pg.sql("CREATE TABLE dst (id int, v text); INSERT INTO dst VALUES (1, 'old')")
    sink = _sink(pg)
    try:
        assert not sink.strategy_renderer(_plan("merge")).upsert
        pg.sql("CREATE UNIQUE INDEX dst_partial ON dst (id) WHERE id > 0")
        assert not sink.strategy_renderer(_plan("merge")).upsert
        pg.sql("CREATE UNIQUE INDEX dst_id ON dst (id)")
        assert sink.strategy_renderer(_plan("merge")).upsert
        pg.sql("DROP INDEX dst_id, dst_partial")
    finally:
        sink.close()
    report = run_ok(pg.manifest([_process("merge", primary_key=["id"])]))
    assert (report.result.inserted_rows, report.result.updated_rows) == (1, 1)
    assert pg.sql("SELECT id, v FROM dst ORDER BY id") == [(1, "a"), (2, "b")]


def test_first_load_copies_straight_into_the_new_table_inside_the_transaction(pg: PgDatabase, tmp_path: Any) -> None:
    import signal
    import time

    from tests.integration.postgres.conftest import spawn_cli

    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 20000) g")
    process = _process("merge", primary_key=["id"])
    process["source"]["batch_rows"] = 1000
    manifest = pg.manifest([process])
    marker = tmp_path / "paused"
    proc = spawn_cli(manifest, env={"DPONE_TEST_PAUSE_AT": "copy", "DPONE_TEST_PAUSE_FILE": str(marker)})
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "pause point not reached"
        time.sleep(0.05)
    # Mid-COPY: no staging table, and the new target is not visible outside the transaction.
    assert pg.staging_tables() == []
    assert pg.sql("SELECT to_regclass('public.dst')")[0][0] is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.3)
    assert pg.sql("SELECT to_regclass('public.dst')")[0][0] is None
    assert pg.state("p") is None and pg.loads("p") == 0
    report = run_ok(manifest)
    assert report.result.inserted_rows == 20000
    assert pg.sql("SELECT count(*), count(DISTINCT id) FROM dst")[0] == (20000, 20000)
    assert pg.loads("p") == 1 and pg.staging_tables() == []


def test_first_load_with_duplicate_keys_is_read_again_through_staging(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b'), (1, 'again')")
    process = _process("merge", primary_key=["id"])
    process["schema_contract"] = {"enforcement": "quarantine", "columns": {"id": {"type": "int32"}}}
    report = run_ok(pg.manifest([process]))
    assert any("read again through staging" in w for w in report.result.warnings)
    assert (report.result.inserted_rows, report.result.quarantined_rows) == (2, 1)
    assert pg.sql("SELECT id, v FROM dst ORDER BY id") == [(1, "a"), (2, "b")]
    assert pg.staging_tables() == []


def test_first_load_contract_violation_mid_copy_leaves_no_table_and_no_state(pg: PgDatabase) -> None:
    import json

    from tests.integration.postgres.conftest import run_cli

    pg.sql("CREATE TABLE src (id int PRIMARY KEY, amount numeric(12, 2))")
    pg.sql("INSERT INTO src SELECT g, CASE WHEN g = 4000 THEN -1 ELSE g END FROM generate_series(1, 5000) g")
    process = _process("full_refresh", primary_key=["id"])
    process["source"]["batch_rows"] = 1000
    process["schema_contract"] = {
        "enforcement": "strict",
        "columns": {"amount": {"type": "decimal", "precision": 12, "scale": 2, "min": 0}},
    }
    result = run_cli(pg.manifest([process]), "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(result.stdout)["result"]["errors"][0]["code"] == "DPONE_CONTRACT_VIOLATION"
    assert pg.sql("SELECT to_regclass('public.dst')")[0][0] is None
    assert pg.state("p") is None and pg.loads("p") == 0 and pg.staging_tables() == []
