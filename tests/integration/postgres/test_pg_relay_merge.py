"""A Postgres -> Postgres merge staged by the binary relay: same rows, counts, state and audit as Arrow staging.

The relay copies the changed rows into a TEMP table of the commit, checks them there (the table
holds only the load's rows), then the merge statements run from it. A source *query* never relays,
so the same load from ``SELECT * FROM changes`` is the Arrow path to compare with.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.postgres.conftest import PgDatabase, run_cli, run_ok, spawn_cli, wait_for_pause
from tests.integration.postgres.test_pg_relay import CONTRACT, READING

pytestmark = pytest.mark.integration

COLUMNS = """id bigint PRIMARY KEY, n int NOT NULL, amount numeric(18, 2), label varchar(40), body text,
  at timestamptz, day date, flag boolean, uid uuid, doc jsonb"""
ROWS = """SELECT g, g % 7, g / 100.0, 'L' || g, CASE g % 3 WHEN 0 THEN NULL ELSE 'b' || g END,
  '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 minute', DATE '2026-01-01' + g % 400, g % 2 = 0,
  md5(g::text)::uuid, jsonb_build_object('k', g) FROM generate_series(1, {rows}) g"""
LOADS = (
    "SELECT rows_extracted, rows_staged, rows_inserted, rows_updated, rows_deleted, rows_quarantined "
    "FROM public.__dpone__loads WHERE process = %s"
)


def _merge(
    name: str, target: str, contract: dict[str, Any] | None = CONTRACT, *, query: bool = False
) -> dict[str, Any]:
    source: dict[str, Any] = {"connection": "pg"}
    source.update({"query": "SELECT * FROM public.changes"} if query else {"table": "public.changes"})
    process: dict[str, Any] = {
        "name": name,
        "source": source,
        "sink": {"connection": "pg", "table": target, "strategy": "merge", "primary_key": ["id"]},
    }
    if contract is not None:
        process["schema_contract"] = contract
    return process


def _targets(pg: PgDatabase, rows: int, *, key_index: bool = True) -> None:
    """``dst_relay`` and ``dst_arrow`` hold the same ``rows`` rows; ``changes`` updates a tenth and adds a tenth."""
    columns = COLUMNS if key_index else COLUMNS.replace(" PRIMARY KEY", "")
    for table in ("dst_relay", "dst_arrow"):
        pg.sql(f"CREATE TABLE {table} ({columns})")
        pg.sql(f"INSERT INTO {table} {ROWS.format(rows=rows)}")
    pg.sql(f"CREATE TABLE changes ({COLUMNS.replace('n int NOT NULL', 'n int')})")
    pg.sql(f"INSERT INTO changes {ROWS.format(rows=rows + rows // 10)}")
    pg.sql(f"DELETE FROM changes WHERE id <= {rows} AND id % 10 <> 0")
    pg.sql("UPDATE changes SET amount = amount + 1, body = 'v2', doc = doc || '{\"v\": 2}' WHERE id % 10 = 0")


def _same(pg: PgDatabase, left: str, right: str) -> bool:
    missing = pg.sql(f"SELECT count(*) FROM (TABLE {left} EXCEPT ALL TABLE {right}) a")
    extra = pg.sql(f"SELECT count(*) FROM (TABLE {right} EXCEPT ALL TABLE {left}) b")
    return missing == extra == [(0,)]


@pytest.mark.parametrize("key_index", [True, False], ids=["upsert", "update_insert"])
def test_a_relayed_merge_writes_what_the_arrow_staged_merge_writes(pg: PgDatabase, key_index: bool) -> None:
    _targets(pg, 2000, key_index=key_index)
    manifest = pg.manifest([_merge("relayed", "public.dst_relay"), _merge("arrow", "public.dst_arrow", query=True)])
    relayed = run_ok(manifest, selector="relayed")
    arrow = run_ok(manifest, selector="arrow")
    assert (relayed.result.write_path, arrow.result.write_path) == ("relay", "staged")
    assert (relayed.result.inserted_rows, relayed.result.updated_rows) == (200, 200)
    assert (arrow.result.inserted_rows, arrow.result.updated_rows) == (200, 200)
    assert relayed.result.extracted_rows == relayed.result.staged_rows == 400
    assert _same(pg, "dst_relay", "dst_arrow")
    assert pg.sql("SELECT count(*) FROM dst_relay WHERE body = 'v2'") == [(220,)]  # 200 updated, 20 of the new
    assert pg.sql(LOADS, ("relayed",)) == pg.sql(LOADS, ("arrow",)) == [(400, 400, 200, 200, 0, 0)]
    assert pg.state("relayed")["load_id"] == relayed.load_id  # type: ignore[index]
    verdicts = {(g.rule, g.verdict) for g in relayed.result.gates if g.gate == "contract"}
    assert verdicts == {(g.rule, g.verdict) for g in arrow.result.gates if g.gate == "contract"}
    assert pg.staging_tables() == []
    # Again with nothing changed: both merge and change nothing (a row of the same values is no update).
    again, arrow_again = run_ok(manifest, selector="relayed"), run_ok(manifest, selector="arrow")
    assert again.result.write_path == "relay"
    assert (again.result.inserted_rows, again.result.updated_rows) == (0, 0)
    assert (arrow_again.result.inserted_rows, arrow_again.result.updated_rows) == (0, 0)
    assert _same(pg, "dst_relay", "dst_arrow")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("UPDATE changes SET amount = -1 WHERE id = 2010", "amount.min"),  # found by the scan of staging
        ("UPDATE changes SET label = NULL WHERE id = 2010", "label"),  # refused by staging's NOT NULL
        ("UPDATE changes SET n = NULL WHERE id = 2010", "n"),  # NOT NULL in the target, not in the source
        ("UPDATE changes SET n = 9 WHERE id = 2010", "n.allowed"),
        ("UPDATE changes SET amount = 'NaN' WHERE id = 2010", "amount"),  # numeric(18,2) holds NaN
        ("UPDATE changes SET day = 'infinity' WHERE id = 2010", "day"),
    ],
)
def test_a_row_the_contract_rejects_fails_the_merge_and_keeps_target_state_and_audit(
    pg: PgDatabase, change: str, words: str
) -> None:
    _targets(pg, 2000)
    manifest = pg.manifest([_merge("relayed", "public.dst_relay")])
    run_ok(manifest)
    state, before = pg.state("relayed"), pg.sql("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM dst_relay t")
    pg.sql(change)
    result = run_cli(manifest, "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["result"]["errors"][0]
    assert words in error["message"], error
    assert pg.sql("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM dst_relay t") == before
    assert pg.state("relayed") == state and pg.loads("relayed") == 1 and pg.staging_tables() == []


def test_repeated_keys_in_a_relayed_merge_are_judged_by_the_contract_as_on_the_arrow_path(pg: PgDatabase) -> None:
    _targets(pg, 1000)
    pg.sql("ALTER TABLE changes DROP CONSTRAINT changes_pkey")
    pg.sql("INSERT INTO changes SELECT * FROM changes WHERE id = 1010")
    manifest = pg.manifest([_merge("relayed", "public.dst_relay"), _merge("arrow", "public.dst_arrow", query=True)])
    relayed = run_cli(manifest, "--format", "json", "--selector", "relayed")
    arrow = run_cli(manifest, "--format", "json", "--selector", "arrow")
    assert relayed.returncode == arrow.returncode == 1, relayed.stdout + relayed.stderr
    errors = [json.loads(r.stdout)["result"]["errors"][0] for r in (relayed, arrow)]
    assert errors[0]["code"] == errors[1]["code"] and "repeat the key" in errors[0]["message"]
    assert _same(pg, "dst_relay", "dst_arrow") and pg.loads("relayed") == 0


def test_quarantine_merges_through_arrow_staging_and_sets_the_bad_row_aside(pg: PgDatabase) -> None:
    _targets(pg, 1000)
    pg.sql("UPDATE changes SET amount = -1 WHERE id = 1010")
    contract = {"enforcement": "quarantine", "columns": {"amount": {"min": 0}}}
    report = run_ok(pg.manifest([_merge("relayed", "public.dst_relay", contract)]))
    assert report.result.write_path == "staged"
    assert (report.result.quarantined_rows, report.result.inserted_rows, report.result.updated_rows) == (1, 99, 100)
    assert pg.sql("SELECT count(*) FROM dst_relay WHERE id = 1010") == [(0,)]


def test_a_merge_with_a_trigger_on_the_target_still_relays_and_fires_it(pg: PgDatabase) -> None:
    _targets(pg, 500)
    pg.sql("CREATE TABLE fired (id bigint)")
    pg.sql(
        "CREATE FUNCTION note() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN INSERT INTO fired VALUES (NEW.id); RETURN NEW; END$$"
    )
    pg.sql("CREATE TRIGGER t AFTER INSERT OR UPDATE ON dst_relay FOR EACH ROW EXECUTE FUNCTION note()")
    report = run_ok(pg.manifest([_merge("relayed", "public.dst_relay")]))
    assert report.result.write_path == "relay"
    assert pg.sql("SELECT count(*) FROM fired") == [(100,)]  # 50 updated, 50 inserted


def test_a_merge_into_a_target_of_other_types_stages_through_arrow(pg: PgDatabase) -> None:
    _targets(pg, 500)
    pg.sql("ALTER TABLE dst_relay ALTER COLUMN n TYPE bigint")
    report = run_ok(pg.manifest([_merge("relayed", "public.dst_relay")]))
    assert report.result.write_path == "staged"
    assert (report.result.inserted_rows, report.result.updated_rows) == (50, 50)


def test_kill_9_mid_relayed_merge_keeps_target_and_state_and_leaves_nothing_behind(
    pg: PgDatabase, tmp_path: Path
) -> None:
    _targets(pg, 20000)
    manifest = pg.manifest([_merge("relayed", "public.dst_relay")])
    run_ok(manifest)
    state, before = pg.state("relayed"), pg.sql("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM dst_relay t")
    pg.sql("UPDATE changes SET body = 'changed'")
    marker = tmp_path / "paused"
    env = {"DPONE_TEST_PAUSE_AT": "copy", "DPONE_TEST_PAUSE_FILE": str(marker), "DPONE_TEST_PAUSE_SECONDS": "60"}
    proc = spawn_cli(manifest, env=env)
    wait_for_pause(marker, proc)
    # Paused with the first rows in the TEMP table, inside the uncommitted finalize transaction.
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while pg.sql(READING) != [(0,)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pg.sql(READING) == [(0,)]
    assert pg.sql("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM dst_relay t") == before
    assert pg.state("relayed") == state and pg.loads("relayed") == 1 and pg.staging_tables() == []
    report = run_ok(manifest)
    assert report.result.write_path == "relay" and report.result.updated_rows == 4000
    assert pg.sql("SELECT count(*) FROM dst_relay WHERE body = 'changed'") == [(4000,)]
