"""The ClickHouse sink's own protocol: resent chunks, kills around the publish, layouts, the lease, types."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

import dpone_core
from dpone_core.checkpoints import listen
from dpone_core.connectors.clickhouse.client import ClickHouseClient
from dpone_core.errors import ConcurrentRunError, TransientError
from tests.integration.clickhouse.conftest import ChDatabase

REPO = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "dpone_core.cli.main"]


def manifest(ch: ChDatabase, csv: str, strategy: str = "append", **sink: Any) -> Path:
    """A CSV -> ClickHouse manifest for process ``p`` in the test's folder."""
    (ch.folder / "in").mkdir(exist_ok=True)
    (ch.folder / "in" / "d.csv").write_text(csv, encoding="utf-8")
    process: dict[str, Any] = {
        "name": "p",
        "source": {"connection": "inbox", "path": "d.csv", "format": "csv", "incremental": {"cursor": "n"}},
        "sink": {"connection": "ch", "table": "t", "strategy": strategy, **sink},
        "schema_contract": {
            "enforcement": "strict",
            "columns": {"id": {"type": "int64", "nullable": False}, "v": {"type": "string"}, "n": {"type": "int64"}},
        },
    }
    doc = {
        "version": 1,
        "connections": {"inbox": {"type": "files", "root": "in"}, "ch": ch.profile()},
        "processes": [process],
    }
    path = ch.folder / "m.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def passed(path: Path, **kwargs: Any) -> dpone_core.RunReport:
    report = dpone_core.run(path, **kwargs)
    assert report.passed, report.to_text()
    return report


FIRST = "id,v,n\n1,a,1\n2,b,2\n"
SECOND = "id,v,n\n1,a,1\n2,b,2\n3,c,3\n4,d,4\n5,é€😀,5\n"


def test_a_chunk_resent_after_a_lost_answer_is_not_doubled(ch: ChDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    real = ClickHouseClient.insert_stream

    def lose_the_first_answer(self: ClickHouseClient, table: str, *args: Any, **kwargs: Any) -> None:
        real(self, table, *args, **kwargs)  # the server has the rows ...
        sent.append(table)
        if "stg_" in table and sent.count(table) == 1:
            raise TransientError("connection reset after the insert")  # ... and the client never heard

    monkeypatch.setattr(ClickHouseClient, "insert_stream", lose_the_first_answer)
    m = manifest(ch, SECOND)
    report = passed(m)
    assert len([t for t in sent if "stg_" in t]) == 2  # the chunk went twice
    assert report.result.inserted_rows == 5
    assert ch.sql("SELECT count(), uniqExact(id) FROM t") == [(5, 5)]


def _kill_at(ch: ChDatabase, m: Path, point: str) -> None:
    marker = ch.folder / f"paused-{point}"
    env = {"DPONE_TEST_PAUSE_AT": point, "DPONE_TEST_PAUSE_FILE": str(marker), "DPONE_TEST_PAUSE_SECONDS": "60"}
    import os

    victim = subprocess.Popen([*CLI, "run", str(m)], cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and victim.poll() is None, f"the run never reached {point}"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)


def test_kill_9_after_the_publish_converges_without_loading_the_window_twice(ch: ChDatabase) -> None:
    m = manifest(ch, FIRST)
    passed(m)
    (ch.folder / "in" / "d.csv").write_text(SECOND, encoding="utf-8")
    _kill_at(ch, m, "published")
    assert ch.sql("SELECT count() FROM t") == [(5,)]  # visible: the publish happened
    assert "2" in str(dpone_core.states(m)["p"]["cursor_value"])  # the state did not advance
    again = passed(m)
    assert any("published by the next run" in w for w in again.result.warnings)
    assert again.result.inserted_rows == 0  # the window 3..5 is not read again
    assert ch.sql("SELECT count(), uniqExact(id) FROM t") == [(5, 5)]
    assert "5" in str(dpone_core.states(m)["p"]["cursor_value"])
    assert ch.sql("SELECT count() FROM system.tables WHERE database = '__dpone_staging' AND name LIKE {p:String}",
                  {"p": f"%{ch.database}__p__%"}) == [(0,)]  # fmt: skip


@pytest.mark.parametrize("strategy", ["append", "full_refresh"])
def test_kill_9_after_the_journal_before_the_publish_is_finished_by_the_next_run(ch: ChDatabase, strategy: str) -> None:
    m = manifest(ch, FIRST, strategy)
    passed(m)
    (ch.folder / "in" / "d.csv").write_text(SECOND, encoding="utf-8")
    _kill_at(ch, m, "journalled")
    assert ch.sql("SELECT count() FROM t") == [(2,)]  # nothing visible yet
    again = passed(m)
    assert any("published by the next run" in w for w in again.result.warnings)
    assert len(dpone_core.loads(m)) == 3  # the first load, the finished one, this run's own
    assert "5" in str(dpone_core.states(m)["p"]["cursor_value"])
    if strategy == "append":  # the killed run's window (3..5) is in exactly once, and not read again
        assert again.result.inserted_rows == 0
        assert ch.sql("SELECT count(), uniqExact(id) FROM t") == [(5, 5)]
    else:  # this run's own full_refresh replaced the finished one with its (empty) window past 5
        assert again.result.deleted_rows == 3 and ch.sql("SELECT count() FROM t") == [(0,)]


def test_created_table_has_engine_keys_partitions_and_nullability_from_the_manifest(ch: ChDatabase) -> None:
    m = manifest(
        ch, FIRST, "merge", primary_key=["id"],
        options={"engine": "ReplacingMergeTree", "order_by": ["id", "n"], "partition_by": "n"},
    )  # fmt: skip
    passed(m)
    [(engine, sorting, partition)] = ch.sql(
        "SELECT engine, sorting_key, partition_key FROM system.tables WHERE database = currentDatabase() AND name = 't'"
    )
    assert (engine, sorting, partition) == ("ReplacingMergeTree", "id, n", "n")
    types = dict(ch.sql("SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 't'"))
    assert types == {"id": "Int64", "v": "Nullable(String)", "n": "Nullable(Int64)"}


def test_partition_replace_uses_replace_partition_on_a_table_partitioned_by_its_slices(ch: ChDatabase) -> None:
    (ch.folder / "in").mkdir(exist_ok=True)
    csv = ch.folder / "in" / "d.csv"
    csv.write_text("id,v,day\n1,a,2026-01-01\n2,b,2026-01-01\n3,c,2026-01-02\n4,d,\n", encoding="utf-8")
    doc = {
        "version": 1,
        "connections": {"inbox": {"type": "files", "root": "in"}, "ch": ch.profile()},
        "processes": [
            {"name": "p", "source": {"connection": "inbox", "path": "d.csv", "format": "csv"},
             "sink": {"connection": "ch", "table": "t", "strategy": "partition_replace"},
             "partitions": {"column": "day", "grain": "day"},
             "schema_contract": {"columns": {"id": {"type": "int64"}, "v": {"type": "string"},
                                             "day": {"type": "date"}}}}
        ],
    }  # fmt: skip
    m = ch.folder / "m.yaml"
    m.write_text(yaml.safe_dump(doc), encoding="utf-8")
    passed(m)
    key = ch.sql("SELECT partition_key FROM system.tables WHERE database = currentDatabase() AND name = 't'")
    assert key == [("toDate(day)",)]
    csv.write_text("id,v,day\n5,e,2026-01-02\n6,f,\n", encoding="utf-8")
    report = passed(m)
    assert (report.result.inserted_rows, report.result.deleted_rows) == (2, 2)
    rows = ch.sql("SELECT id, v, toString(day) FROM t ORDER BY id")
    assert rows == [(1, "a", "2026-01-01"), (2, "b", "2026-01-01"), (5, "e", "2026-01-02"), (6, "f", None)]


def test_an_existing_table_without_a_dedup_window_gets_one_before_an_append(ch: ChDatabase) -> None:
    ch.client.command("CREATE TABLE t (id Int64, v Nullable(String), n Nullable(Int64)) ENGINE = MergeTree ORDER BY id")
    m = manifest(ch, FIRST)
    passed(m)
    [(full,)] = ch.sql("SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 't'")
    assert "non_replicated_deduplication_window = 10000" in full
    assert ch.sql("SELECT count() FROM t") == [(2,)]


def test_the_lease_admits_exactly_one_of_racing_runs(ch: ChDatabase) -> None:
    from dpone_core.connectors.clickhouse.lease import Lease

    def take(process: str, name: str, lease: Lease, won: list[str], refused: list[str]) -> None:
        try:
            lease.acquire(process, f"{name}@elsewhere:1", 60, None)
            won.append(name)
        except ConcurrentRunError:
            refused.append(name)

    for round_ in range(3):
        won: list[str] = []
        refused: list[str] = []
        threads = [
            threading.Thread(
                target=take, args=(f"race{round_}", f"run{i}", Lease(ch.dpone_client(), ch.database, "t"), won, refused)
            )
            for i in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1 and len(refused) == 2, (won, refused)


def test_decimal_datetime64_and_unicode_round_trip_exactly(ch: ChDatabase, tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "src.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            "CREATE TABLE s AS SELECT * FROM (VALUES "
            "(1, 12345678901234567890.1234567890::DECIMAL(38,10), TIMESTAMPTZ '2026-03-29 01:59:59.123456+00', "
            "'ünïcødé ✓ 😀', DATE '1901-01-01'), "
            "(2, -0.0000000001::DECIMAL(38,10), TIMESTAMPTZ '1970-01-01 00:00:00+00', '', DATE '2299-12-31')"
            ") AS v(id, amount, ts, txt, dt)"
        )
    doc = {
        "version": 1,
        "connections": {"src": {"type": "duckdb", "path": str(db)}, "ch": ch.profile()},
        "processes": [
            {"name": "p", "source": {"connection": "src", "table": "s"},
             "sink": {"connection": "ch", "table": "t", "strategy": "full_refresh"}}
        ],
    }  # fmt: skip
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    passed(path)
    types = dict(ch.sql("SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 't'"))
    assert types["amount"] == "Nullable(Decimal(38, 10))" and types["ts"] == "Nullable(DateTime64(6, 'Etc/UTC'))"
    rows = dpone_core.read_target(path, "p").sort_by("id").to_pylist()
    assert rows[0]["amount"] == Decimal("12345678901234567890.1234567890")
    assert rows[1]["amount"] == Decimal("-0.0000000001")
    assert rows[0]["ts"].isoformat() == "2026-03-29T01:59:59.123456+00:00"
    assert rows[0]["txt"] == "ünïcødé ✓ 😀" and rows[1]["txt"] == ""
    assert str(rows[0]["dt"]) == "1901-01-01" and str(rows[1]["dt"]) == "2299-12-31"


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    from tests.integration.postgres.pgserver import free_port

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "d.csv").write_text(FIRST, encoding="utf-8")
    doc = {
        "version": 1,
        "connections": {
            "inbox": {"type": "files", "root": "in"},
            "ch": {"type": "clickhouse", "host": "127.0.0.1", "port": free_port(), "connect_timeout_seconds": 2},
        },
        "processes": [{"name": "p", "source": {"connection": "inbox", "path": "d.csv", "format": "csv"},
                       "sink": {"connection": "ch", "table": "t", "strategy": "append"}}],
    }  # fmt: skip
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    args = [*CLI, "run", str(path), "--format", "json"]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    error = json.loads(proc.stdout)["result"]["errors"][0]
    assert error["code"] == "DPONE_CONNECTION" and "cannot reach ClickHouse at http://127.0.0.1:" in error["message"]


def test_a_journalled_load_whose_staging_is_gone_is_abandoned_and_its_window_read_again(ch: ChDatabase) -> None:
    m = manifest(ch, FIRST, "full_refresh")
    passed(m)
    (ch.folder / "in" / "d.csv").write_text(SECOND, encoding="utf-8")
    _kill_at(ch, m, "journalled")
    for (name,) in ch.sql("SELECT name FROM system.tables WHERE database = '__dpone_staging' AND name LIKE {p:String}",
                          {"p": f"%{ch.database}__p__%"}):  # fmt: skip
        ch.client.command(f"DROP TABLE `__dpone_staging`.`{name}`")
    again = passed(m)
    assert any("abandoned" in w for w in again.result.warnings)
    assert again.result.inserted_rows == 3  # the window 3..5 again, from the state the dead run left
    assert ch.sql("SELECT id FROM t ORDER BY id") == [(3,), (4,), (5,)]
    assert len(dpone_core.loads(m)) == 2


def test_the_lease_still_works_after_its_rows_are_deleted(ch: ChDatabase) -> None:
    from dpone_core.connectors.clickhouse.lease import Lease

    lease = Lease(ch.dpone_client(), ch.database, "t")
    first = lease.acquire("p", "a@elsewhere:1", 60, None)
    lease.release("p", "a@elsewhere:1", first)
    # A delete keeps the table's deduplication log: epochs 1 and 2 would be dropped as repeats.
    ch.client.command("DELETE FROM __dpone__leases WHERE 1", settings={"lightweight_deletes_sync": 2})
    assert ch.sql("SELECT count() FROM __dpone__leases") == [(0,)]
    again = lease.acquire("p", "b@elsewhere:2", 60, None)
    assert again > first + 1 and lease.held("p", "b@elsewhere:2", again)


def test_the_reconcile_gate_reads_the_built_version_and_an_appends_staged_rows(ch: ChDatabase) -> None:
    m = manifest(ch, SECOND, "merge", primary_key=["id"])
    doc = yaml.safe_load(m.read_text())
    doc["processes"][0]["reconcile"] = {"mode": "rows"}
    m.write_text(yaml.safe_dump(doc), encoding="utf-8")
    report = passed(m)
    [verdict] = [g for g in report.result.gates if g.gate == "reconcile"]
    assert verdict.verdict == "passed" and "source 5 rows, target 5" in verdict.detail
    doc["processes"][0]["sink"] = {"connection": "ch", "table": "t2", "strategy": "append", "primary_key": ["id"]}
    m.write_text(yaml.safe_dump(doc), encoding="utf-8")
    passed(m)  # the first load into t2 creates it: a rename of the built table, checked
    (ch.folder / "in" / "d.csv").write_text(SECOND + "6,f,6\n", encoding="utf-8")
    report = passed(m)
    [verdict] = [g for g in report.result.gates if g.gate == "reconcile"]
    assert verdict.verdict == "passed" and "source 1 rows, target 1" in verdict.detail
    assert "target side: the load's staged rows" in verdict.detail

    # A late row lands inside the window after the read: the staged rows miss it, nothing is published.
    source = ch.folder / "in" / "d.csv"
    source.write_text(SECOND + "6,f,6\n7,g,7\n", encoding="utf-8")
    stop = listen(lambda name: name == "finalize" and source.write_text(source.read_text() + "8,h,7\n"))
    try:
        report = dpone_core.run(m)
    finally:
        stop()
    assert not report.passed and report.result.errors[0].code == "DPONE_RECONCILE_FAILED"
    assert ch.sql("SELECT count(), max(id) FROM t2") == [(1, 6)]  # the earlier load only: neither 7 nor the late 8
    assert dpone_core.states(m)["p"]["cursor_value"] == '{"kind": "int", "value": "6"}'


def test_full_refresh_stages_in_the_targets_layout_and_swaps_the_staging_in(ch: ChDatabase) -> None:
    ch.client.command(
        "CREATE TABLE t (id Int64, v Nullable(String), n Nullable(Int64)) ENGINE = ReplacingMergeTree "
        "ORDER BY (id) SETTINGS index_granularity = 1024"
    )
    m = manifest(ch, SECOND, "full_refresh")
    report = passed(m)
    assert (report.result.inserted_rows, report.result.deleted_rows) == (5, 0)
    [(engine, full)] = ch.sql(
        "SELECT engine, engine_full FROM system.tables WHERE database = currentDatabase() AND name = 't'"
    )
    assert engine == "ReplacingMergeTree" and "index_granularity = 1024" in full  # the user's table, kept
    columns = [
        r[0] for r in ch.sql("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 't'")
    ]
    assert columns == ["id", "v", "n"]  # no sequence column left behind
    assert ch.sql("SELECT count(), uniqExact(id) FROM t") == [(5, 5)]
