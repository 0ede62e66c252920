"""Crash safety, the concurrency lease and fail-closed contracts against a real Postgres.

Runs are real ``dpone run`` subprocesses; the runtime's pause hooks (``DPONE_TEST_PAUSE_AT``) stop a
run at a known point (first batch of the extract, mid-COPY into staging, inside the finalize
transaction) so the test can SIGKILL it there.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.postgres.conftest import PgDatabase, run_cli, run_ok, spawn_cli, wait_for_pause

pytestmark = pytest.mark.integration

ROWS = 50_000


def _seed(pg: PgDatabase) -> None:
    pg.sql(
        "CREATE TABLE src (id bigint PRIMARY KEY, v text NOT NULL, amount numeric(12, 2), "
        "updated_at timestamptz NOT NULL)"
    )
    pg.sql(
        f"INSERT INTO src SELECT g, 'v' || g, g / 100.0, '2026-01-01'::timestamptz + g * interval '1 second' "
        f"FROM generate_series(1, {ROWS}) g"
    )


def _manifest(pg: PgDatabase, strategy: str = "merge", **source: Any) -> Path:
    process: dict[str, Any] = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src", "batch_rows": 1000, **source},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": strategy, "primary_key": ["id"]},
    }
    if strategy == "append":
        process["sink"].pop("primary_key")
    return pg.manifest([process])


def _query_manifest(pg: PgDatabase) -> Path:
    """The merge of :func:`_manifest` from a query source (which stages through Arrow, never relays)."""
    path = _manifest(pg)
    doc = yaml.safe_load(path.read_text())
    doc["processes"][0]["source"] = {"connection": "pg", "query": "SELECT * FROM public.src", "batch_rows": 1000}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _snapshot(pg: PgDatabase) -> tuple[Any, ...]:
    target = pg.sql("SELECT count(*), sum(length(v)), sum(amount) FROM dst")[0]
    return target, pg.state("p"), pg.loads("p")


@pytest.mark.parametrize("path", ["staged", "relay"])
@pytest.mark.parametrize("step", ["extract", "copy", "stage", "finalize", "commit"])
def test_kill_9_leaves_target_and_state_and_the_next_run_converges(
    pg: PgDatabase, step: str, path: str, tmp_path: Path
) -> None:
    """The merge stages in the staging schema (a query source never relays), or relays into a TEMP table."""
    _seed(pg)
    manifest = _manifest(pg) if path == "relay" else _query_manifest(pg)
    run_ok(manifest)
    pg.sql("UPDATE src SET v = v || '!' WHERE id % 7 = 0")
    pg.sql(f"INSERT INTO src VALUES ({ROWS + 1}, 'new', 1, now())")
    before = _snapshot(pg)

    marker = tmp_path / f"paused-{step}"
    proc = spawn_cli(manifest, env={"DPONE_TEST_PAUSE_AT": step, "DPONE_TEST_PAUSE_FILE": str(marker)})
    wait_for_pause(marker, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    time.sleep(0.3)  # the server notices the closed socket and rolls back
    assert _snapshot(pg) == before
    if path == "staged":
        assert pg.staging_tables(), "the killed run should have left its staging table behind"
    else:
        assert pg.staging_tables() == []  # a TEMP table of the killed session's transaction: gone with it

    report = run_ok(manifest)
    assert report.result.write_path == path
    dropped = any("dropped staging left by an interrupted run" in w for w in report.result.warnings)
    assert dropped is (path == "staged")
    assert pg.staging_tables() == []
    assert (report.result.inserted_rows, report.result.updated_rows) == (1, ROWS // 7)
    assert pg.sql("SELECT count(*) FROM dst")[0][0] == ROWS + 1
    assert pg.sql("SELECT count(*) FROM dst d JOIN src s USING (id) WHERE d.v = s.v")[0][0] == ROWS + 1
    assert pg.loads("p") == 2


def test_two_concurrent_runs_only_one_commits_and_no_row_is_duplicated(pg: PgDatabase, tmp_path: Path) -> None:
    _seed(pg)
    manifest = _manifest(pg, "append", incremental={"cursor": "updated_at"})
    marker = tmp_path / "paused"
    first = spawn_cli(
        manifest,
        "--format",
        "json",
        env={"DPONE_TEST_PAUSE_AT": "finalize", "DPONE_TEST_PAUSE_FILE": str(marker), "DPONE_TEST_PAUSE_SECONDS": "15"},
    )
    wait_for_pause(marker, first)
    second = run_cli(manifest, "--format", "json")
    assert second.returncode == 1, second.stdout + second.stderr
    error = json.loads(second.stdout)["result"]["errors"][0]
    assert error["code"] == "DPONE_ALREADY_RUNNING" and "already running" in error["line"]
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert pg.sql("SELECT count(*), count(DISTINCT id) FROM dst")[0] == (ROWS, ROWS)
    assert pg.loads("p") == 1


def test_a_run_whose_state_moved_while_it_loaded_refuses_to_commit(pg: PgDatabase, tmp_path: Path) -> None:
    _seed(pg)
    manifest = _manifest(pg, "append", incremental={"cursor": "updated_at"})
    marker = tmp_path / "paused"
    slow = spawn_cli(
        manifest,
        "--format",
        "json",
        env={"DPONE_TEST_PAUSE_AT": "stage", "DPONE_TEST_PAUSE_FILE": str(marker), "DPONE_TEST_PAUSE_SECONDS": "10"},
    )
    wait_for_pause(marker, slow)
    run_ok(manifest)  # commits the same cursor range while the slow run is paused after staging
    out, err = slow.communicate(timeout=60)
    assert slow.returncode == 1, out + err
    assert json.loads(out)["result"]["errors"][0]["code"] == "DPONE_ALREADY_RUNNING"
    assert pg.sql("SELECT count(*), count(DISTINCT id) FROM dst")[0] == (ROWS, ROWS)
    assert pg.loads("p") == 1
    assert pg.staging_tables() == []


def test_strict_contract_violation_leaves_target_and_state_untouched(pg: PgDatabase) -> None:
    _seed(pg)
    process: dict[str, Any] = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "merge", "primary_key": ["id"]},
        "schema_contract": {
            "enforcement": "strict",
            "columns": {"amount": {"type": "decimal", "precision": 12, "scale": 2, "min": 0}},
        },
    }
    manifest = pg.manifest([process])
    run_ok(manifest)
    pg.sql("UPDATE src SET amount = -1, v = 'changed' WHERE id = 40000")
    before = _snapshot(pg)
    result = run_cli(manifest, "--format", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["result"]["errors"][0]["code"] == "DPONE_CONTRACT_VIOLATION"
    assert _snapshot(pg) == before
    assert pg.staging_tables() == []


def test_sigint_rolls_back_and_exits_130(pg: PgDatabase, tmp_path: Path) -> None:
    _seed(pg)
    manifest = _manifest(pg)
    marker = tmp_path / "paused"
    proc = spawn_cli(manifest, env={"DPONE_TEST_PAUSE_AT": "finalize", "DPONE_TEST_PAUSE_FILE": str(marker)})
    wait_for_pause(marker, proc)
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert pg.sql("SELECT to_regclass('public.dst')")[0][0] is None
    assert pg.state("p") is None
    assert pg.staging_tables() == []


def test_ctrl_c_inside_the_drivers_copy_exits_130_without_a_retry(pg: PgDatabase, tmp_path: Path) -> None:
    # Mid-COPY the ADBC driver owns SIGINT: it cancels the statement and raises its own error.
    rows = "".join(f"{i},v{i}\n" for i in range(20_000))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text("id,v\n" + rows, encoding="utf-8")
    process = {
        "name": "p",
        "source": {"connection": "inbox", "path": "data.csv", "format": "csv", "batch_rows": 500},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "merge", "primary_key": ["id"]},
    }
    manifest = pg.manifest([process], {"inbox": {"type": "files", "root": str(tmp_path / "in")}})
    marker = tmp_path / "paused"
    env = {"DPONE_TEST_PAUSE_AT": "copy", "DPONE_TEST_PAUSE_FILE": str(marker), "DPONE_TEST_PAUSE_SECONDS": "2"}
    proc = spawn_cli(manifest, "--format", "json", "--retry-attempts", "2", env=env)
    wait_for_pause(marker, proc)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    report = json.loads(out)
    assert report["status"] == "interrupted" and report["attempts"] == 1
    assert report["result"]["errors"][0]["code"] == "DPONE_INTERRUPTED"
    assert pg.sql("SELECT to_regclass('public.dst')")[0][0] is None
    assert pg.state("p") is None and pg.staging_tables() == []
