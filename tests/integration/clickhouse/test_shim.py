"""The test server answers clickhouse-connect like ClickHouse's HTTP interface (run against a real server too)."""

from __future__ import annotations

import time
import urllib.request

import pyarrow as pa
import pytest

from tests.integration.clickhouse.conftest import ChDatabase, ClickHouseServer

pytestmark = pytest.mark.integration


def ipc_stream(table: pa.Table, pieces: int) -> list[bytes]:
    """One Arrow IPC stream of ``table``, cut into ``pieces`` byte strings (a chunked body)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=max(1, table.num_rows // pieces)):
            writer.write_batch(batch)
    data = sink.getvalue().to_pybytes()
    step = len(data) // pieces + 1
    return [data[i : i + step] for i in range(0, len(data), step)]


def test_ping(ch_server: ClickHouseServer) -> None:
    with urllib.request.urlopen(f"{ch_server.url}/ping", timeout=5) as answer:
        assert answer.read() == b"Ok.\n"


def test_dedup_token_keeps_one_copy_of_two_identical_inserts(ch: ChDatabase) -> None:
    ch.client.command(
        "CREATE TABLE t (id UInt64, s String) ENGINE = MergeTree ORDER BY id "
        "SETTINGS non_replicated_deduplication_window = 100"
    )
    data = pa.table({"id": pa.array(range(10), pa.uint64()), "s": [f"ü{i}" for i in range(10)]})
    for _ in range(2):
        ch.client.insert_arrow("t", data, settings={"insert_deduplication_token": "tok-1", "async_insert": 0})
    assert ch.sql("SELECT count(), sum(id) FROM t") == [(10, 45)]
    # The same token on an INSERT ... SELECT command: a setting of that statement only.
    for _ in range(2):
        ch.client.command(
            "INSERT INTO t SELECT number + 100, 'x' FROM numbers(5)", settings={"insert_deduplication_token": "tok-2"}
        )
    assert ch.sql("SELECT count() FROM t") == [(15,)]
    # Without a token the content hash decides: a different block is kept.
    ch.client.command("INSERT INTO t SELECT number + 200, 'y' FROM numbers(5)")
    assert ch.sql("SELECT count() FROM t") == [(20,)]


def test_streamed_arrow_insert_and_read(ch: ChDatabase) -> None:
    ch.client.command("CREATE TABLE t (id Int64, ts DateTime64(6, 'UTC')) ENGINE = MergeTree ORDER BY id")
    data = pa.table(
        {
            "id": pa.array(range(5000), pa.int64()),
            "ts": pa.array([i * 1_000_001 for i in range(5000)], pa.timestamp("us", tz="UTC")),
        }
    )
    summary = ch.client.raw_insert("t", ["id", "ts"], insert_block=iter(ipc_stream(data, 7)), fmt="ArrowStream")
    assert int(summary.written_rows) == 5000
    with ch.client.query_arrow_stream("SELECT id, ts FROM t ORDER BY id") as stream:
        read = pa.Table.from_batches(list(stream))
    assert read.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert read.column("ts").to_pylist() == data.column("ts").to_pylist()
    assert ch.client.query_arrow("SELECT count() AS n FROM t").column("n").to_pylist() == [5000]


def test_server_side_parameters_and_database(ch: ChDatabase) -> None:
    assert ch.sql("SELECT currentDatabase()") == [(ch.database,)]
    rows = ch.sql(
        "SELECT {n:UInt64} * 2, {s:String}, {d:DateTime64(6, 'UTC')}",
        {"n": 21, "s": "it's ü\t", "d": "2024-01-02 03:04:05.000006"},
    )
    assert rows[0][:2] == (42, "it's ü\t")
    assert rows[0][2].microsecond == 6
    big = "x" * 6000  # past the URL budget: the client sends a multipart form
    assert ch.sql("SELECT length({s:String})", {"s": big}) == [(6000,)]


def test_settings_last_one_request(ch: ChDatabase) -> None:
    default = ch.sql("SELECT getSetting('max_threads')")
    assert ch.client.query("SELECT getSetting('max_threads')", settings={"max_threads": 1}).result_rows == [(1,)]
    assert ch.sql("SELECT getSetting('max_threads')") == default


def test_errors_carry_the_server_code(ch: ChDatabase) -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    with pytest.raises(DatabaseError) as missing:
        ch.client.query("SELECT * FROM no_such_table")
    assert missing.value.code == 60
    assert "no_such_table" in str(missing.value)
    with pytest.raises(DatabaseError) as syntax:
        ch.client.command("SELEC 1")
    assert syntax.value.code == 62
    assert ch.sql("SELECT 1") == [(1,)]  # the connection is still good


def test_the_shim_refuses_a_compressed_body(ch: ChDatabase) -> None:
    if ch.server.pid is None:
        pytest.skip("a real server decodes compressed bodies")
    import gzip

    from clickhouse_connect.driver.exceptions import DatabaseError

    ch.client.command("CREATE TABLE t (id Int32) ENGINE = Memory")
    with pytest.raises(DatabaseError, match="Content-Encoding gzip") as refused:
        ch.client.raw_insert("t", ["id"], insert_block=gzip.compress(b"1\n"), fmt="TSV", compression="gzip")
    assert refused.value.code == 48
    assert ch.sql("SELECT count() FROM t") == [(0,)]


def test_the_shim_logs_each_request_it_answers(ch: ChDatabase) -> None:
    if ch.server.request_log is None:
        pytest.skip("a real server keeps no request log of the shim's")
    before = len(ch.server.requests())
    ch.client.command("CREATE TABLE logged (x UInt8) ENGINE = MergeTree ORDER BY x")
    ch.client.query("SELECT count() FROM logged")
    sent = ch.server.requests()[before:]
    assert [s.split()[0] for s in sent] == ["CREATE", "SELECT"], sent
    assert "logged" in sent[0] and "count()" in sent[1]


def test_an_answer_with_a_body_is_not_held_back_by_nagle(ch: ChDatabase) -> None:
    # The headers and the body are two writes: without TCP_NODELAY the body waited for the
    # client's delayed ACK, about 40 ms per SELECT (a real server on the same host answers in ~1 ms).
    if ch.server.request_log is None:
        pytest.skip("measures the shim's own answers")
    ch.client.query("SELECT 1")
    took = []
    for _ in range(9):
        started = time.perf_counter()
        ch.client.query("SELECT 1")
        took.append(time.perf_counter() - started)
    assert sorted(took)[4] < 0.025, took
