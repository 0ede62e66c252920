"""Edge cases found by a bug hunt: session time zone, ISO weeks, NULL partitions, lease wait, wide types."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.integration.postgres.conftest import PgDatabase, run_cli, run_ok

pytestmark = pytest.mark.integration


def _process(strategy: str, partitions: dict[str, Any] | None = None) -> dict[str, Any]:
    process: dict[str, Any] = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": strategy, "primary_key": ["id"]},
    }
    if partitions:
        process["partitions"] = partitions
    return process


@pytest.mark.parametrize("column_type", ["timestamptz", "timestamp"])
def test_a_day_partition_is_a_utc_day_whatever_the_database_time_zone(pg: PgDatabase, column_type: str) -> None:
    pg.sql(f"ALTER DATABASE \"{pg.name}\" SET timezone = 'America/New_York'")
    pg.sql(f"CREATE TABLE src (id int PRIMARY KEY, ts {column_type} NOT NULL)")
    # In UTC: Jan 30 20:00, Jan 31 02:00, Jan 31 12:00, Feb 1 03:00.
    pg.sql(
        "SET timezone = 'UTC'; INSERT INTO src VALUES (1, '2026-01-30 20:00+00'), (2, '2026-01-31 02:00+00'), "
        "(3, '2026-01-31 12:00+00'), (4, '2026-02-01 03:00+00')"
    )
    manifest = pg.manifest([_process("partition_replace", {"column": "ts", "grain": "day"})])
    run_ok(manifest)
    report = run_ok(manifest, partition="2026-01-31")
    # The UTC day 2026-01-31 holds ids 2 and 3: exactly those are replaced, nothing else is touched.
    assert (report.result.extracted_rows, report.result.deleted_rows, report.result.inserted_rows) == (2, 2, 2)
    assert pg.sql("SELECT id FROM dst ORDER BY id") == [(1,), (2,), (3,), (4,)]


def test_week_partitions_are_iso_weeks_named_by_their_monday(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, ts timestamptz NOT NULL)")
    pg.sql(
        "INSERT INTO src VALUES (1, '2026-01-05T10:00Z'), (2, '2026-01-08T10:00Z'), "
        "(3, '2026-01-13T10:00Z'), (4, '2026-01-15T10:00Z')"
    )
    bad = pg.manifest([_process("partition_replace", {"column": "ts", "grain": "week", "start": "2026-01-07"})])
    refused = run_cli(bad, "--format", "json")
    assert refused.returncode == 2 and "Monday" in refused.stdout + refused.stderr
    manifest = pg.manifest([_process("partition_replace", {"column": "ts", "grain": "week", "start": "2026-01-05"})])
    run_ok(manifest)
    wednesday = run_cli(manifest, "--partition", "2026-01-07", "--format", "json")
    assert wednesday.returncode == 2, wednesday.stdout + wednesday.stderr
    assert "--partition 2026-01-05" in json.loads(wednesday.stdout)["result"]["errors"][0]["message"] + str(
        json.loads(wednesday.stdout)["result"]["errors"][0]
    )
    report = run_ok(manifest, partition="2026-01-12")
    assert (report.result.deleted_rows, report.result.inserted_rows) == (2, 2)
    assert pg.sql("SELECT id FROM dst ORDER BY id") == [(1,), (2,), (3,), (4,)]


def test_rows_without_a_partition_value_are_replaced_not_duplicated(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int, region text); INSERT INTO src VALUES (1, 'eu'), (2, NULL), (3, 'us')")
    process = _process("partition_replace", {"column": "region", "values": ["eu", "us"]})
    process["sink"]["primary_key"] = []
    manifest = pg.manifest([process])
    run_ok(manifest)
    report = run_ok(manifest, run_id="again")
    assert (report.result.deleted_rows, report.result.inserted_rows) == (3, 3)
    assert pg.sql("SELECT id, region FROM dst ORDER BY id") == [(1, "eu"), (2, None), (3, "us")]


def test_lease_wait_bounds_the_lease_only_not_the_target_lock(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    manifest = pg.manifest([_process("full_refresh")], connections={"pg": pg.profile(lease_wait_seconds=1)})
    run_ok(manifest)
    reading = threading.Event()

    def hold_a_read_lock() -> None:
        con = pg.connect()
        con.autocommit = False
        with con.cursor() as cur:
            cur.execute("SELECT count(*) FROM dst")
            reading.set()
            time.sleep(3)
        con.rollback()
        con.close()

    reader = threading.Thread(target=hold_a_read_lock)
    reader.start()
    assert reading.wait(10)
    started = time.monotonic()
    report = run_ok(manifest, retry_attempts=1)  # waits for the reader at LOCK TABLE, then refreshes
    reader.join()
    assert time.monotonic() - started > 1.5
    assert (report.result.deleted_rows, report.result.inserted_rows) == (2, 2)
    assert report.attempts == 1  # it waited; a lock timeout would have been retried


@pytest.mark.parametrize(
    ("ddl", "column"),
    [
        ("CREATE TABLE src (id int PRIMARY KEY, big numeric(100, 2))", "big"),
        ("CREATE TYPE pair AS (a int, b text); CREATE TABLE src (id int PRIMARY KEY, p pair)", "p"),
    ],
)
def test_types_without_an_arrow_mapping_fail_with_the_column_and_a_cast(pg: PgDatabase, ddl: str, column: str) -> None:
    pg.sql(ddl)
    pg.sql("INSERT INTO src (id) VALUES (1)")
    result = run_cli(pg.manifest([_process("merge")]), "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["result"]["errors"][0]
    assert error["code"] == "DPONE_PG_UNSUPPORTED_TYPE", error
    assert f"column {column}" in error["message"] and "::text" in json.dumps(error)
    assert pg.sql("SELECT to_regclass('public.dst')") == [(None,)]


def test_a_target_numeric_wider_than_arrow_decimals_fails_as_a_gate_not_a_crash(pg: PgDatabase) -> None:
    # numeric(100, 2) has no Arrow decimal; the target column is described by a text stand-in, so
    # a decimal source column is a type change the evolution gate refuses, in one line.
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, big numeric(30, 2)); INSERT INTO src VALUES (1, 12.5)")
    pg.sql("CREATE TABLE dst (id int PRIMARY KEY, big numeric(100, 2))")
    result = run_cli(pg.manifest([_process("merge")]), "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["result"]["errors"][0]
    assert error["code"] == "DPONE_SCHEMA_EVOLUTION_BLOCKED" and "big" in error["message"], error
    assert pg.sql("SELECT count(*) FROM dst") == [(0,)]


def test_query_parameters_are_found_outside_literals_and_a_missing_one_is_named(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    process = _process("merge")
    process["source"] = {
        "connection": "pg",
        "query": "SELECT id, v || ' :not_a_param' AS v, $$ :nor_this $$ AS w FROM src -- :nor_that\nWHERE id >= :low",
        "params": {"low": 2},
    }
    report = run_ok(pg.manifest([process]))
    assert report.result.inserted_rows == 1
    assert pg.sql("SELECT id, v, w FROM dst") == [(2, "b :not_a_param", " :nor_this ")]
    del process["source"]["params"]
    result = run_cli(pg.manifest([process]), "--format", "json")
    assert result.returncode == 2, result.stdout + result.stderr
    error = json.loads(result.stdout)["result"]["errors"][0]
    assert error["code"] == "DPONE_CONFIGURATION" and ":low" in error["message"], error


@pytest.mark.parametrize(("column_type", "value"), [("timestamptz", "infinity"), ("date", "-infinity")])
def test_infinite_timestamps_and_dates_fail_naming_the_column(pg: PgDatabase, column_type: str, value: str) -> None:
    # The driver would hand these over as dates ~290,000 years BC; dpone refuses them instead.
    pg.sql(f"CREATE TABLE src (id int PRIMARY KEY, at {column_type})")
    pg.sql(f"INSERT INTO src VALUES (1, now()), (2, '{value}'), (3, NULL)")
    process = _process("merge")
    result = run_cli(pg.manifest([process]), "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["result"]["errors"][0]
    assert "column at holds infinity" in error["message"] and "NULLIF" in json.dumps(error), error
    assert pg.sql("SELECT to_regclass('public.dst')") == [(None,)]
    process["source"] = {"connection": "pg", "query": f"SELECT id, NULLIF(at, '{value}') AS at FROM src"}
    report = run_ok(pg.manifest([process]))
    assert report.result.inserted_rows == 3
    assert pg.sql("SELECT count(at) FROM dst") == [(1,)]


@pytest.mark.parametrize("strategy", ["full_refresh", "merge"])
def test_sql_quoted_table_names_on_both_ends(pg: PgDatabase, strategy: str) -> None:
    pg.sql('CREATE SCHEMA "Sales.EU"')
    pg.sql('CREATE TABLE "Sales.EU"."Order Items" (id int PRIMARY KEY, "Line Note" text)')
    pg.sql("""INSERT INTO "Sales.EU"."Order Items" SELECT g, 'n' || g FROM generate_series(1, 100) g""")
    process = {
        "name": "p",
        "source": {"connection": "pg", "table": '"Sales.EU"."Order Items"'},
        "sink": {"connection": "pg", "table": 'public."Order Items"', "strategy": strategy, "primary_key": ["id"]},
    }
    manifest = pg.manifest([process])
    for _ in range(2):  # a first load creates the target, the second writes into it
        run_ok(manifest)
    assert pg.sql('SELECT count(*), max("Line Note") FROM public."Order Items"') == [(100, "n99")]
