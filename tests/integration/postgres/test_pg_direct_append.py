"""append (and incremental without a key) into an existing Postgres target: COPY straight into it.

The rows are written once, inside the finalize transaction with the audit row and the state. A key
the target already holds makes the COPY fail, and the run reads again through staging, whose INSERT
reports the conflict as it always did.
"""

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


def _process(strategy: str = "append", key: tuple[str, ...] = ("id",), **source: Any) -> dict[str, Any]:
    return {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src", "batch_rows": 1000, **source},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": strategy, "primary_key": list(key)},
    }


def _dst_locks(pg: PgDatabase) -> list[tuple[Any, ...]]:
    return pg.sql(
        "SELECT mode FROM pg_locks WHERE relation = 'public.dst'::regclass AND granted AND pid <> pg_backend_pid()"
    )


def test_append_copies_into_the_target_without_staging(pg: PgDatabase, tmp_path: Path) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 5000) g")
    manifest = pg.manifest([_process()])
    run_ok(manifest)
    assert direct_allowed(pg, "append", ("id",))
    pg.sql("TRUNCATE src; INSERT INTO src SELECT g, 'w' || g FROM generate_series(5001, 8000) g")
    marker = tmp_path / "paused"
    env = {"DPONE_TEST_PAUSE_AT": "copy", "DPONE_TEST_PAUSE_FILE": str(marker), "DPONE_TEST_PAUSE_SECONDS": "2"}
    proc = spawn_cli(manifest, "--format", "json", env=env)
    wait_for_pause(marker, proc)
    # Mid-COPY into the target itself: no staging table, and only ROW EXCLUSIVE on dst (readers and
    # other writers go on).
    assert pg.staging_tables() == []
    assert _dst_locks(pg) == [("RowExclusiveLock",)]
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    result = json.loads(out)["result"]
    assert (result["inserted_rows"], result["updated_rows"], result["deleted_rows"]) == (3000, 0, 0)
    assert pg.sql("SELECT count(*), count(*) FILTER (WHERE v LIKE 'w%%'), max(id) FROM dst")[0] == (8000, 3000, 8000)
    assert pg.loads("p") == 2 and pg.staging_tables() == []


def test_append_of_a_key_the_target_holds_fails_and_changes_nothing(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    manifest = pg.manifest([_process()])
    run_ok(manifest)
    state = pg.state("p")
    pg.sql("TRUNCATE src; INSERT INTO src VALUES (3, 'c'), (2, 'again')")
    result = run_cli(manifest, "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)["result"]
    assert report["errors"][0]["code"] == "DPONE_TERMINAL"
    assert "read again through staging" in " ".join(report["warnings"])
    assert pg.sql("SELECT id, v FROM dst ORDER BY id") == [(1, "a"), (2, "b")]
    assert pg.state("p") == state and pg.loads("p") == 1 and pg.staging_tables() == []


def test_append_without_a_key_adds_every_row_on_each_run(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (event text, at timestamptz)")
    pg.sql("INSERT INTO src VALUES ('open', '2026-01-01T00:00:00Z'), ('close', NULL), ('', '2026-01-02T00:00:00Z')")
    manifest = pg.manifest([_process(key=())])
    run_ok(manifest)
    assert direct_allowed(pg, "append", ())
    report = run_ok(manifest, run_id="second")
    assert report.result.inserted_rows == 3
    assert pg.sql("SELECT event, count(*) FROM dst GROUP BY event ORDER BY event") == [
        ("", 2),
        ("close", 2),
        ("open", 2),
    ]
    assert pg.sql("SELECT count(*) FROM dst WHERE at IS NULL") == [(2,)]


def test_incremental_without_a_key_copies_only_rows_past_the_cursor(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (n int, at timestamptz)")
    pg.sql("INSERT INTO src SELECT g, '2026-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 10) g")
    manifest = pg.manifest([_process("incremental", (), incremental={"cursor": "at"})])
    run_ok(manifest)
    assert direct_allowed(pg, "incremental", ())
    pg.sql("INSERT INTO src SELECT g, '2026-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(11, 14) g")
    report = run_ok(manifest)
    assert report.result.inserted_rows == 4
    assert pg.sql("SELECT count(*), count(DISTINCT n), max(n) FROM dst")[0] == (14, 14, 14)
    assert "2026-01-01T14:00:00+00:00" in (pg.state("p") or {})["cursor_value"]


def test_incremental_with_a_key_stays_staged(pg: PgDatabase) -> None:
    # Its lookback re-reads rows the target holds and skips them: a COPY cannot.
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, at timestamptz)")
    pg.sql("INSERT INTO src VALUES (1, '2026-01-01T00:00:00Z')")
    run_ok(pg.manifest([_process("incremental", incremental={"cursor": "at"})]))
    assert not direct_allowed(pg, "incremental", ("id",))
    assert direct_allowed(pg, "append", ("id",))
    assert not direct_allowed(pg, "merge", ("id",))


def test_append_stays_staged_when_the_target_does_not_enforce_the_key(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE dst (id int, v text)")
    assert not direct_allowed(pg, "append", ("id",))
    assert direct_allowed(pg, "append", ())


def test_kill_mid_direct_append_keeps_the_target_and_state_and_the_rerun_appends_once(
    pg: PgDatabase, tmp_path: Path
) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 1000) g")
    manifest = pg.manifest([_process(incremental={"cursor": "id"})])
    run_ok(manifest)
    state = pg.state("p")
    pg.sql("INSERT INTO src SELECT g, 'w' || g FROM generate_series(1001, 21000) g")
    marker = tmp_path / "paused"
    proc = spawn_cli(manifest, env={"DPONE_TEST_PAUSE_AT": "copy", "DPONE_TEST_PAUSE_FILE": str(marker)})
    wait_for_pause(marker, proc)
    assert pg.staging_tables() == [] and _dst_locks(pg) == [("RowExclusiveLock",)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.3)
    assert pg.sql("SELECT count(*), max(id) FROM dst")[0] == (1000, 1000)
    assert pg.state("p") == state and pg.loads("p") == 1
    report = run_ok(manifest)
    assert report.result.inserted_rows == 20000
    assert pg.sql("SELECT count(*), count(DISTINCT id), max(id) FROM dst")[0] == (21000, 21000, 21000)
    assert json.loads((pg.state("p") or {})["cursor_value"]) == {"kind": "int", "value": "21000"}


def test_an_append_that_needs_ddl_is_staged_so_readers_are_not_blocked(pg: PgDatabase, tmp_path: Path) -> None:
    # ALTER TABLE takes ACCESS EXCLUSIVE; a direct append would hold it through the whole read.
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 100) g")
    manifest = pg.manifest([_process()])
    run_ok(manifest)
    pg.sql("TRUNCATE src; ALTER TABLE src ADD COLUMN note text")
    pg.sql("INSERT INTO src SELECT g, 'w' || g, 'n' || g FROM generate_series(101, 5100) g")
    marker = tmp_path / "paused"
    env = {"DPONE_TEST_PAUSE_AT": "copy", "DPONE_TEST_PAUSE_FILE": str(marker), "DPONE_TEST_PAUSE_SECONDS": "2"}
    proc = spawn_cli(manifest, "--format", "json", env=env)
    wait_for_pause(marker, proc)
    assert pg.staging_tables() != [] and _dst_locks(pg) == []  # staging fills; the target is free
    assert pg.sql("SET lock_timeout = '1s'; SELECT count(*) FROM dst") == [(100,)]
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    result = json.loads(out)["result"]
    assert result["inserted_rows"] == 5000 and any("note" in s for s in result["ddl"])
    assert pg.sql("SELECT count(*), count(note) FROM dst")[0] == (5100, 5000)


def test_full_refresh_from_a_query_reading_its_own_target_is_staged(pg: PgDatabase) -> None:
    # The source's COPY holds ACCESS SHARE on dst while it streams; a direct refresh would wait for
    # it forever at LOCK TABLE ... ACCESS EXCLUSIVE.
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text)")
    # More rows than the socket buffers and the prefetch queue hold, so the source is still streaming.
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 200000) g")
    process = _process("full_refresh")
    manifest = pg.manifest([process], connections={"pg": pg.profile(lock_timeout_seconds=3)})
    run_ok(manifest)
    process["source"] = {
        "connection": "pg",
        "query": "SELECT s.id, coalesce(d.v, s.v) || '+' AS v FROM src s LEFT JOIN dst d USING (id)",
        "batch_rows": 500,
    }
    manifest = pg.manifest([process], connections={"pg": pg.profile(lock_timeout_seconds=3)})
    report = run_ok(manifest, retry_attempts=1)
    assert (report.result.deleted_rows, report.result.inserted_rows) == (200000, 200000)
    assert pg.sql("SELECT count(*) FILTER (WHERE v LIKE 'v%%+') FROM dst") == [(200000,)]


def test_full_refresh_from_a_query_on_another_connection_name_to_the_same_database_is_staged(
    pg: PgDatabase,
) -> None:
    # A read-only connection name and a loader one often point at the same database: the source's
    # read lock would still make a direct refresh wait at LOCK TABLE (here without any lock_timeout).
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 200000) g")
    process = _process("full_refresh")
    manifest = pg.manifest([process])
    run_ok(manifest)
    process["source"] = {
        "connection": "reader",
        "query": "SELECT s.id, coalesce(d.v, s.v) || '+' AS v FROM src s LEFT JOIN dst d USING (id)",
        "batch_rows": 500,
    }
    manifest = pg.manifest([process], connections={"reader": pg.profile()})
    result = run_cli(manifest, "--format", "json", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["result"]["write_path"] == "staged"
    assert pg.sql("SELECT count(*) FILTER (WHERE v LIKE 'v%%+') FROM dst") == [(200000,)]


def test_full_refresh_from_a_view_reading_its_own_target_is_staged(pg: PgDatabase) -> None:
    # A view is read under its own name, but its read locks the target too.
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 200000) g")
    process = _process("full_refresh")
    manifest = pg.manifest([process])
    run_ok(manifest)
    pg.sql("CREATE VIEW src_v AS SELECT s.id, coalesce(d.v, s.v) || '+' AS v FROM src s LEFT JOIN dst d USING (id)")
    process["source"] = {"connection": "pg", "table": "public.src_v", "batch_rows": 500}
    result = run_cli(pg.manifest([process]), "--format", "json", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["result"]["write_path"] == "staged"
    assert pg.sql("SELECT count(*) FILTER (WHERE v LIKE 'v%%+') FROM dst") == [(200000,)]
