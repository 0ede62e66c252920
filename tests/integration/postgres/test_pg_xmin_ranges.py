"""xmin-based incremental reads and key-range partitions (``partitions.ranges``) against a real Postgres."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import dpone_core
from dpone_core.runtime.partitions import partition_keys
from tests.integration.postgres.conftest import PgDatabase, run_cli, run_ok

pytestmark = pytest.mark.integration


def _xmin_manifest(pg: PgDatabase, **extra: Any) -> Path:
    process: dict[str, Any] = {
        "name": "x",
        "source": {"connection": "pg", "table": "public.src", "incremental": {"mode": "xmin"}},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "merge", "primary_key": ["id"]},
        **extra,
    }
    return pg.manifest([process])


def _horizon(pg: PgDatabase) -> int | None:
    rows = pg.sql("SELECT state_json FROM public.__dpone__state WHERE process = 'x'")
    return json.loads(rows[0][0])["xmin_horizon"] if rows and rows[0][0] else None


def _same(pg: PgDatabase) -> bool:
    diff = pg.sql("SELECT count(*) FROM ((TABLE src EXCEPT TABLE dst) UNION ALL (TABLE dst EXCEPT TABLE src)) AS d")
    return bool(diff[0][0] == 0)


def _quiet_tables(pg: PgDatabase) -> None:
    """No autovacuum on src/dst: an ANALYZE holds a transaction id and would lower a horizon at random."""
    pg.sql("ALTER TABLE src SET (autovacuum_enabled = false)")
    pg.sql("CREATE TABLE dst (LIKE src INCLUDING ALL) WITH (autovacuum_enabled = false)")


def test_xmin_incremental_reads_inserted_and_updated_rows_and_keeps_the_horizon(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, v text NOT NULL, amount numeric(12, 2))")
    pg.sql("INSERT INTO src SELECT g, 'v' || g, g / 10.0 FROM generate_series(1, 2000) g")
    _quiet_tables(pg)
    manifest = _xmin_manifest(pg)

    first = run_ok(manifest)
    assert first.result.extracted_rows == 2000
    horizon = _horizon(pg)
    assert isinstance(horizon, int) and horizon > 0
    assert first.result.state_after["extra"] == {"xmin_horizon": horizon}
    assert _same(pg)

    pg.sql("INSERT INTO src SELECT g, 'new' || g, 1 FROM generate_series(2001, 2005) g")
    pg.sql("UPDATE src SET v = v || '!' WHERE id IN (3, 500, 1999)")
    # A transaction still open during the next read: its row is invisible now and must come next time.
    open_txn = pg.connect()
    open_txn.autocommit = False
    with open_txn.cursor() as cur:
        cur.execute("INSERT INTO src VALUES (9999, 'late', 1)")
    try:
        second = run_ok(manifest)
    finally:
        open_txn.commit()
        open_txn.close()
    assert second.result.extracted_rows == 8  # 5 inserted + 3 updated; none of the 1997 old rows
    assert (second.result.inserted_rows, second.result.updated_rows) == (5, 3)
    assert second.result.state_before["extra"] == {"xmin_horizon": horizon}
    later = _horizon(pg)
    assert later is not None and later > horizon

    third = run_ok(manifest)
    assert third.result.extracted_rows == 1 and third.result.inserted_rows == 1  # the late row, only it
    assert _same(pg)
    last = _horizon(pg)
    assert last is not None and last > later

    fourth = run_ok(manifest)
    assert fourth.result.extracted_rows == 0
    assert (_horizon(pg) or 0) >= last  # the loads themselves use transaction ids


def test_a_failed_xmin_run_leaves_the_horizon_and_the_next_run_reads_the_rows_again(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, v text NOT NULL, amount numeric(12, 2) NOT NULL)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g, g FROM generate_series(1, 500) g")
    _quiet_tables(pg)
    amount = {"type": "decimal", "precision": 12, "scale": 2, "min": 0}
    contract = {"enforcement": "strict", "columns": {"amount": amount}}
    manifest = _xmin_manifest(pg, schema_contract=contract)
    run_ok(manifest)
    horizon = _horizon(pg)

    pg.sql("UPDATE src SET amount = -1 WHERE id = 7")
    pg.sql("UPDATE src SET v = 'changed' WHERE id = 8")
    failed = run_cli(manifest, "--format", "json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert json.loads(failed.stdout)["result"]["errors"][0]["code"] == "DPONE_CONTRACT_VIOLATION"
    assert _horizon(pg) == horizon
    assert pg.loads("x") == 1
    assert pg.sql("SELECT v FROM dst WHERE id = 8") == [("v8",)]

    pg.sql("UPDATE src SET amount = 7 WHERE id = 7")
    report = run_ok(manifest)
    assert report.result.extracted_rows == 2  # id 8 (missed by the failed run) and the fixed id 7
    assert _same(pg)
    assert (_horizon(pg) or 0) > (horizon or 0)


def test_xmin_mode_is_refused_for_append_and_query_sources(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY)")
    append = pg.manifest(
        [
            {
                "name": "x",
                "source": {"connection": "pg", "table": "public.src", "incremental": {"mode": "xmin"}},
                "sink": {"connection": "pg", "table": "public.dst", "strategy": "append"},
            }
        ]
    )
    assert run_cli(append).returncode == 2
    query = _xmin_manifest(pg)
    text = query.read_text(encoding="utf-8").replace("table: public.src", "query: SELECT * FROM src", 1)
    query.write_text(text, encoding="utf-8")
    refused = run_cli(query)
    assert refused.returncode == 2 and "xmin needs a table source" in refused.stdout + refused.stderr


RANGES = 4


def _ranges_manifest(pg: PgDatabase) -> Path:
    def process(name: str, table: str, partitions: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": name,
            "source": {"connection": "pg", "table": "public.src", "batch_rows": 500},
            "sink": {"connection": "pg", "table": table, "strategy": "append"},
        }
        if partitions:
            doc["partitions"] = {"column": "id", "ranges": RANGES}
        return doc

    return pg.manifest([process("chunks", "public.by_range", True), process("full", "public.whole", False)])


def test_key_ranges_together_load_exactly_the_rows_of_one_full_load(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, v text)")
    # Gaps everywhere: every 7th id missing, a negative id, a far outlier, a dense block at the top.
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 3000) g WHERE g % 7 <> 0")
    pg.sql("INSERT INTO src VALUES (-40, 'neg'), (1000000, 'far'), (1000001, 'far+1')")
    manifest = _ranges_manifest(pg)
    process = dpone_core.processes(manifest)[0]
    assert process.partitions is not None
    keys = partition_keys(process.partitions)
    assert keys == ["0", "1", "2", "3"]

    sizes = []
    for key in keys:
        report = run_ok(manifest, selector="chunks", partition=key)
        sizes.append(report.result.extracted_rows)
    run_ok(manifest, selector="full")

    total = pg.sql("SELECT count(*) FROM src")[0][0]
    assert sum(sizes) == total
    assert all(size > 0 for size in sizes[:1]) and sizes[-1] >= 2
    assert pg.sql("SELECT count(*), count(DISTINCT id) FROM by_range")[0] == (total, total)
    diff = pg.sql(
        "SELECT count(*) FROM ((TABLE by_range EXCEPT TABLE whole) UNION ALL (TABLE whole EXCEPT TABLE by_range)) d"
    )
    assert diff[0][0] == 0
    assert pg.state("chunks") is not None and pg.state("chunks")["cursor_value"] is None  # type: ignore[index]


def test_a_key_range_outside_the_count_and_a_nullable_key_with_nulls_are_configuration_errors(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id bigint, v text)")
    pg.sql("INSERT INTO src VALUES (1, 'a'), (NULL, 'b')")
    manifest = _ranges_manifest(pg)
    out_of_range = run_cli(manifest, "--selector", "chunks", "--partition", str(RANGES))
    assert out_of_range.returncode == 2 and "0 to 3" in out_of_range.stdout + out_of_range.stderr
    with_nulls = run_cli(manifest, "--selector", "chunks", "--partition", "0")
    assert with_nulls.returncode == 2 and "NULL" in with_nulls.stdout + with_nulls.stderr
    assert pg.sql("SELECT to_regclass('public.by_range')")[0][0] is None


def test_the_xmin_filter_is_exact_across_the_32_bit_wraparound(pg: PgDatabase) -> None:
    from dpone_core.connectors.postgres.xmin import WRAP, plan_xmin

    # The committed horizon sits just before a wraparound, the snapshot just after it.
    plan = plan_xmin(WRAP - 100, WRAP + 40, WRAP + 50)
    assert plan.predicate is not None and plan.horizon == WRAP + 40
    raw = {"old": WRAP - 150, "at_horizon": WRAP - 100, "before_wrap": WRAP - 1, "after_wrap": 10, "newest": 49}
    con = pg.connect()
    with con.cursor() as cur:
        predicate = plan.predicate.replace("xmin::text::bigint", "x")
        values = ", ".join(cur.mogrify("(%s, %s::bigint)", (name, x)).decode() for name, x in raw.items())
        cur.execute(f"SELECT name FROM (VALUES {values}) AS r(name, x) WHERE {predicate} ORDER BY x", plan.values)
        selected = {row[0] for row in cur.fetchall()}
    con.close()
    assert selected == {"at_horizon", "before_wrap", "after_wrap", "newest"}
    assert plan_xmin(WRAP - 100, WRAP * 3, WRAP * 3 + 5).predicate is None  # too far apart: read everything


def test_key_ranges_extracted_as_chunks_commit_once_and_equal_a_full_load(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, v text, ts timestamptz, span interval, amount numeric(12,3))")
    pg.sql(
        "INSERT INTO src SELECT g, 'v' || g, timestamptz '2026-01-01 00:00+00' + g * interval '1 minute', "
        "g * interval '1 day 2 hours', g / 7.0 FROM generate_series(1, 5000) g WHERE g % 11 <> 0"
    )
    manifest = _ranges_manifest(pg)
    sizes = [
        run_ok(manifest, selector="chunks", run_id="c1", partition=str(key), phase="extract").result.extracted_rows
        for key in range(RANGES)
    ]
    assert pg.sql("SELECT to_regclass('public.by_range')")[0][0] is None  # nothing written by the extracts
    report = run_ok(manifest, selector="chunks", run_id="c1", phase="finalize")
    run_ok(manifest, selector="full")

    total = pg.sql("SELECT count(*) FROM src")[0][0]
    assert sum(sizes) == total == report.result.inserted_rows
    diff = pg.sql(
        "SELECT count(*) FROM ((TABLE by_range EXCEPT TABLE whole) UNION ALL (TABLE whole EXCEPT TABLE by_range)) d"
    )
    assert diff[0][0] == 0
    loads = pg.sql("SELECT run_id, partition_key FROM public.__dpone__loads WHERE process = 'chunks'")
    assert loads == [("c1", "0,1,2,3")]
    assert (
        pg.sql(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'by_range'::regclass "
            "AND attname = 'amount'"
        )[0][0]
        == "numeric(12,3)"
    )


def test_xmin_is_refused_for_a_chunked_load(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    manifest = _xmin_manifest(pg, partitions={"column": "id", "ranges": 2})
    proc = run_cli(manifest, "--run-id", "x1", "--phase", "extract", "--partition", "0")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "incremental mode xmin keeps one state for the whole read" in proc.stdout + proc.stderr
    assert pg.sql("SELECT to_regclass('public.dst')")[0][0] is None


def test_a_chunked_full_refresh_over_a_loaded_target_replaces_it_once(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, v text)")
    pg.sql("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 2000) g")
    manifest = pg.manifest(
        [
            {
                "name": "refresh",
                "source": {"connection": "pg", "table": "public.src"},
                "sink": {"connection": "pg", "table": "public.dst", "strategy": "full_refresh", "primary_key": ["id"]},
                "partitions": {"column": "id", "ranges": 3},
            }
        ]
    )
    for run_id in ("first", "second"):
        for key in range(3):
            run_ok(manifest, run_id=run_id, partition=str(key), phase="extract")
        if run_id == "second":
            pg.sql("DELETE FROM src WHERE id > 1500")  # the parked chunks still hold them: they are loaded
        report = run_ok(manifest, run_id=run_id, phase="finalize")
    assert (report.result.deleted_rows, report.result.inserted_rows) == (2000, 2000)
    assert pg.sql("SELECT count(*), count(DISTINCT id) FROM dst")[0] == (2000, 2000)
    assert pg.sql("SELECT count(*) FROM public.__dpone__loads WHERE process = 'refresh'")[0][0] == 2
