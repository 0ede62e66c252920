"""full_refresh over an existing Postgres target: TRUNCATE + COPY straight into it, in the finalize transaction."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.postgres.conftest import (
    PgDatabase,
    direct_allowed,
    run_cli,
    run_ok,
    spawn_cli,
    wait_for_pause,
)

pytestmark = pytest.mark.integration


def _process(**sink: Any) -> dict[str, Any]:
    return {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src", "batch_rows": 1000},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "full_refresh", "primary_key": ["id"], **sink},
    }


def _loaded(pg: PgDatabase, rows: int = 5000) -> Path:
    """A source of ``rows`` rows, loaded once into ``dst`` (the first, creating load)."""
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, %s) g", (rows,))
    manifest = pg.manifest([_process()])
    run_ok(manifest)
    return manifest


def test_full_refresh_copies_into_the_existing_target_keeping_grants_indexes_and_counts(pg: PgDatabase) -> None:
    manifest = _loaded(pg)
    pg.sql("CREATE ROLE dpone_reader; GRANT SELECT ON dst TO dpone_reader; CREATE INDEX dst_v ON dst (v)")
    oid = pg.sql("SELECT 'public.dst'::regclass::oid")[0][0]
    assert direct_allowed(pg, "full_refresh")
    pg.sql("DELETE FROM src WHERE id > 3000; UPDATE src SET v = 'new' WHERE id = 1")
    report = run_ok(manifest)
    assert (report.result.deleted_rows, report.result.inserted_rows) == (5000, 3000)
    assert not report.result.warnings
    assert pg.sql("SELECT count(*), min(id), max(id) FROM dst")[0] == (3000, 1, 3000)
    assert pg.sql("SELECT v FROM dst WHERE id = 1") == [("new",)]
    # TRUNCATE kept the table (same oid), its grant and its secondary index.
    assert pg.sql("SELECT 'public.dst'::regclass::oid")[0][0] == oid
    assert pg.sql("SELECT has_table_privilege('dpone_reader', 'public.dst', 'SELECT')") == [(True,)]
    assert pg.sql("SELECT indexname FROM pg_indexes WHERE tablename = 'dst' ORDER BY 1") == [("dst_pkey",), ("dst_v",)]
    assert pg.loads("p") == 2 and pg.staging_tables() == []
    pg.sql("DROP OWNED BY dpone_reader; DROP ROLE dpone_reader")


def test_full_refresh_copies_by_column_name_into_a_target_with_another_column_order(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text, n bigint)")
    pg.sql("INSERT INTO src VALUES (1, 'a', 10), (2, 'b', 20)")
    pg.sql("CREATE TABLE dst (n bigint, v text, id int PRIMARY KEY); INSERT INTO dst VALUES (0, 'old', 9)")
    assert direct_allowed(pg, "full_refresh")
    report = run_ok(pg.manifest([_process()]))
    assert (report.result.deleted_rows, report.result.inserted_rows) == (1, 2)
    assert pg.sql("SELECT id, v, n FROM dst ORDER BY id") == [(1, "a", 10), (2, "b", 20)]


def test_full_refresh_kill_mid_copy_keeps_the_old_rows_and_state(pg: PgDatabase, tmp_path: Path) -> None:
    manifest = _loaded(pg, 20000)
    state = pg.state("p")
    pg.sql("UPDATE src SET v = 'changed'")
    marker = tmp_path / "paused"
    proc = spawn_cli(manifest, env={"DPONE_TEST_PAUSE_AT": "copy", "DPONE_TEST_PAUSE_FILE": str(marker)})
    wait_for_pause(marker, proc)
    # Mid-COPY into the target itself: no staging table, and the run holds ACCESS EXCLUSIVE on dst.
    assert pg.staging_tables() == []
    locks = pg.sql(
        "SELECT mode FROM pg_locks WHERE relation = 'public.dst'::regclass AND granted AND pid <> pg_backend_pid()"
    )
    assert ("AccessExclusiveLock",) in locks
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.3)
    assert pg.sql("SELECT count(*), count(*) FILTER (WHERE v = 'changed') FROM dst")[0] == (20000, 0)
    assert pg.state("p") == state and pg.loads("p") == 1
    report = run_ok(manifest)
    assert (report.result.deleted_rows, report.result.inserted_rows) == (20000, 20000)
    assert pg.sql("SELECT count(*) FILTER (WHERE v = 'changed') FROM dst")[0][0] == 20000


def test_full_refresh_contract_violation_mid_copy_keeps_the_old_rows_and_state(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, amount numeric(12, 2))")
    pg.sql("INSERT INTO src SELECT g, g FROM generate_series(1, 5000) g")
    process = _process()
    process["schema_contract"] = {
        "enforcement": "strict",
        "columns": {"amount": {"type": "decimal", "precision": 12, "scale": 2, "min": 0}},
    }
    manifest = pg.manifest([process])
    run_ok(manifest)
    state = pg.state("p")
    pg.sql("UPDATE src SET amount = amount + 1; UPDATE src SET amount = -1 WHERE id = 4000")
    result = run_cli(manifest, "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(result.stdout)["result"]["errors"][0]["code"] == "DPONE_CONTRACT_VIOLATION"
    assert pg.sql("SELECT count(*), sum(amount) FROM dst")[0] == (5000, 5000 * 5001 // 2)
    assert pg.state("p") == state and pg.loads("p") == 1 and pg.staging_tables() == []


def test_full_refresh_duplicate_key_falls_back_to_staging_where_the_contract_quarantines(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    process = _process()
    # full_refresh makes the key a rule of the load only through the contract's unique rule.
    process["schema_contract"] = {"enforcement": "quarantine", "columns": {"id": {"type": "int32", "unique": True}}}
    manifest = pg.manifest([process])
    run_ok(manifest)
    assert direct_allowed(pg, "full_refresh")
    pg.sql("INSERT INTO src VALUES (3, 'c'), (1, 'again')")
    report = run_ok(manifest)
    assert any("read again through staging" in w for w in report.result.warnings)
    assert (report.result.deleted_rows, report.result.inserted_rows, report.result.quarantined_rows) == (2, 3, 1)
    assert pg.sql("SELECT id, v FROM dst ORDER BY id") == [(1, "a"), (2, "b"), (3, "c")]
    assert pg.loads("p") == 2 and pg.staging_tables() == []


@pytest.mark.parametrize(
    ("contract", "code"),
    [
        ({"enforcement": "strict", "columns": {"id": {"type": "int32", "unique": True}}}, "DPONE_CONTRACT_VIOLATION"),
        (None, "DPONE_TERMINAL"),  # no unique rule: the staged INSERT meets the primary key, as before
    ],
)
def test_full_refresh_duplicate_key_fails_through_staging(pg: PgDatabase, contract: Any, code: str) -> None:
    pg.sql("CREATE TABLE src (id int, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    process = _process()
    if contract:
        process["schema_contract"] = contract
    manifest = pg.manifest([process])
    run_ok(manifest)
    state = pg.state("p")
    pg.sql("INSERT INTO src VALUES (1, 'again')")
    result = run_cli(manifest, "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)["result"]
    assert report["errors"][0]["code"] == code
    assert "read again through staging" in " ".join(report["warnings"])
    assert pg.sql("SELECT id, v FROM dst ORDER BY id") == [(1, "a"), (2, "b")]
    assert pg.state("p") == state and pg.loads("p") == 1 and pg.staging_tables() == []


def test_full_refresh_stays_staged_when_the_target_does_not_enforce_the_key(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b'), (2, 'again')")
    pg.sql("CREATE TABLE dst (id int, v text); INSERT INTO dst VALUES (7, 'old')")
    assert not direct_allowed(pg, "full_refresh")
    assert direct_allowed(pg, "full_refresh", ())  # without a key nothing needs the index
    process = _process()
    process["schema_contract"] = {"enforcement": "quarantine", "columns": {"id": {"type": "int32", "unique": True}}}
    report = run_ok(pg.manifest([process]))
    assert (report.result.deleted_rows, report.result.inserted_rows, report.result.quarantined_rows) == (1, 2, 1)
    assert pg.sql("SELECT id, v FROM dst ORDER BY id") == [(1, "a"), (2, "b")]


def test_full_refresh_adds_a_new_source_column_then_copies_into_the_target(pg: PgDatabase) -> None:
    manifest = _loaded(pg, 100)
    pg.sql("ALTER TABLE src ADD COLUMN note text; UPDATE src SET note = 'n' || id")
    report = run_ok(manifest)
    assert (report.result.deleted_rows, report.result.inserted_rows) == (100, 100)
    assert any("note" in statement for statement in report.result.ddl)
    assert pg.sql("SELECT count(*) FILTER (WHERE note = 'n' || id) FROM dst") == [(100,)]
