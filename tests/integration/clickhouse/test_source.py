"""The ClickHouse source against a server (the chDB shim, or DPONE_TEST_CLICKHOUSE_URL): types, filters, batches."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from dpone_core.connectors.clickhouse.source import ClickHouseSource
from dpone_core.errors import ConfigurationError, TerminalError
from dpone_core.model import Predicate, ReadRequest, TableRef
from tests.integration.clickhouse.conftest import ChDatabase

pytestmark = pytest.mark.integration
BERLIN = ZoneInfo("Europe/Berlin")


def source(
    ch: ChDatabase,
    table: str | None = None,
    query: str | None = None,
    settings: dict[str, str] | None = None,
    **params: object,
) -> ClickHouseSource:
    """A source on a fresh dpone client (as the connector's open_source will build it)."""
    client = ch.dpone_client(use_database=True, **({"settings": settings} if settings else {}))
    ref = TableRef(None, table) if table is not None else None
    return ClickHouseSource(client, database=ch.database, table=ref, query=query, params=params, where=client.where)


def read(src: ClickHouseSource, **request: object) -> tuple[pa.Schema, list[pa.RecordBatch]]:
    reader = src.read(ReadRequest(**request))  # type: ignore[arg-type]
    return reader.schema, list(reader)


def rows(batches: list[pa.RecordBatch], schema: pa.Schema) -> list[dict[str, object]]:
    return pa.Table.from_batches(batches, schema).to_pylist()


def numbers(ch: ChDatabase, count: int) -> None:
    ch.client.command(
        "CREATE TABLE n (id UInt64, grp LowCardinality(String), at DateTime64(6, 'UTC'), nk Nullable(Int64)) "
        "ENGINE = MergeTree ORDER BY id"
    )
    ch.client.command(
        "INSERT INTO n SELECT number, toString(number % 3), toDateTime64('2024-01-01 00:00:00', 6, 'UTC') "
        f"+ toIntervalMicrosecond(number), if(number = 3, NULL, number) FROM numbers({count})"
    )


TYPES = {
    "id": "Int64",
    "berlin": "DateTime64(3, 'Europe/Berlin')",
    "utc": "DateTime64(6, 'UTC')",
    "d18": "Decimal(18, 2)",
    "d38": "Decimal(38, 10)",
    "lc": "LowCardinality(String)",
    "ni": "Nullable(Int32)",
    "arr": "Array(Int64)",
    "m": "Map(String, UInt64)",
    "u": "UUID",
    "s": "String",
    "day": "Date",
    "flag": "Bool",
    "e": "Enum8('red' = 1, 'green' = 2)",
    "secs": "DateTime('UTC')",
    "ip": "IPv4",
    "tags": "Array(Enum8('a' = 1, 'b' = 2))",
    "pair": "Tuple(k String, v Nullable(Int16))",
    "big": "Int128",
}
VALUES = [
    "(1, '2024-03-31 02:30:00.123', '2024-01-01 00:00:00.123456', 12.34, 1234567890.0123456789, 'x', NULL, [1, 2],"
    " {'k': 7}, '61f0c404-5cb3-11e7-907b-a6006ad3dba0', 'ünïcødé 🙂', '2024-02-29', true, 'green',"
    " '2024-01-01 12:00:00', '10.0.0.1', ['b', 'a'], ('one', NULL), -170141183460469231731687303715884105)",
    "(2, '1970-01-01 00:00:00.000', '2299-12-31 23:59:59.999999', -99999999999999.99, -0.0000000001, '', 5, [],"
    " {}, '00000000-0000-0000-0000-000000000000', '', '1970-01-01', false, 'red', '1970-01-01 00:00:00',"
    " '255.255.255.255', [], ('', 7), 0)",
]
EXPECTED = [
    {
        "id": 1,
        "berlin": datetime(2024, 3, 31, 0, 30, 0, 123000, tzinfo=UTC),  # the Berlin gap: stored as 00:30 UTC
        "utc": datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
        "d18": Decimal("12.34"),
        "d38": Decimal("1234567890.0123456789"),
        "lc": "x",
        "ni": None,
        "arr": [1, 2],
        "m": [("k", 7)],
        "u": uuid.UUID("61f0c404-5cb3-11e7-907b-a6006ad3dba0"),
        "s": "ünïcødé 🙂",
        "day": date(2024, 2, 29),
        "flag": True,
        "e": "green",
        "secs": datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
        "ip": "10.0.0.1",
        "tags": ["b", "a"],
        "pair": {"k": "one", "v": None},
        "big": Decimal("-170141183460469231731687303715884105"),
    },
    {
        "id": 2,
        "berlin": datetime(1970, 1, 1, tzinfo=BERLIN),
        "utc": datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "d18": Decimal("-99999999999999.99"),
        "d38": Decimal("-0.0000000001"),
        "lc": "",
        "ni": 5,
        "arr": [],
        "m": [],
        "u": uuid.UUID(int=0),
        "s": "",
        "day": date(1970, 1, 1),
        "flag": False,
        "e": "red",
        "secs": datetime(1970, 1, 1, tzinfo=UTC),
        "ip": "255.255.255.255",
        "tags": [],
        "pair": {"k": "", "v": 7},
        "big": Decimal(0),
    },
]


def test_types_round_trip_value_by_value(ch: ChDatabase) -> None:
    columns = ", ".join(f"`{name}` {ch_type}" for name, ch_type in TYPES.items())
    ch.client.command(f"CREATE TABLE t ({columns}) ENGINE = MergeTree ORDER BY id")
    ch.client.command(f"INSERT INTO t VALUES {', '.join(VALUES)}")
    schema, batches = read(source(ch, "t"))
    assert schema.names == list(TYPES)
    assert all(batch.schema.equals(schema) for batch in batches)
    assert schema.field("berlin").type == pa.timestamp("ms", tz="Europe/Berlin")
    assert schema.field("utc").type == pa.timestamp("us", tz="UTC")
    assert schema.field("d18").type == pa.decimal128(18, 2)
    assert schema.field("d38").type == pa.decimal128(38, 10)
    assert schema.field("secs").type == pa.timestamp("s", tz="UTC")
    assert schema.field("lc").type == pa.string() and not schema.field("lc").nullable
    assert schema.field("ni").nullable and not schema.field("id").nullable
    for name in ("e", "ip"):
        assert schema.field(name).type == pa.string()
    got = sorted(rows(batches, schema), key=lambda row: row["id"])  # type: ignore[arg-type, return-value]
    for row, expected in zip(got, EXPECTED, strict=True):
        for name, value in expected.items():
            assert row[name] == value, name
            if isinstance(value, datetime):  # each value carries its column's zone
                assert str(row[name].tzinfo) == schema.field(name).type.tz, name  # type: ignore[union-attr]


def test_query_with_server_side_parameters(ch: ChDatabase) -> None:
    numbers(ch, 20)
    sql = f"SELECT id, grp FROM `{ch.database}`.n WHERE id >= {{lo:UInt64}} AND grp != {{skip:String}};"
    src = source(ch, query=sql, lo=10, skip="0")
    assert src.describe() == f"clickhouse:{src.where}/{ch.database}.query"
    schema, batches = read(src)
    assert schema.names == ["id", "grp"]
    assert sorted(r["id"] for r in rows(batches, schema)) == [i for i in range(10, 20) if i % 3]  # type: ignore[type-var]


def test_a_query_names_tables_in_the_profile_database(ch: ChDatabase) -> None:
    numbers(ch, 3)
    _, batches = read(source(ch, query="SELECT id FROM n"))
    assert sum(b.num_rows for b in batches) == 3


def test_predicates_are_pushed_down_as_parameters(ch: ChDatabase) -> None:
    numbers(ch, 100)
    start = datetime(2024, 1, 1, 0, 0, 0, 10, tzinfo=UTC)
    end = datetime(2024, 1, 1, 1, 0, 0, 20, tzinfo=BERLIN)  # 00:00:00.000020 UTC
    predicates = (Predicate("at", ">", start), Predicate("at", "<=", end), Predicate("grp", "==", "1"))
    src = source(ch, "n")
    sql, params, _ = src.sql(ReadRequest(predicates=predicates))
    assert "WHERE `at` > {dpone_w0:DateTime64(6, 'UTC')}" in sql
    assert params["dpone_w0"] == "2024-01-01 00:00:00.000010" and params["dpone_w1"] == "2024-01-01 00:00:00.000020"
    schema, batches = read(src, predicates=predicates)
    assert sorted(r["id"] for r in rows(batches, schema)) == [13, 16, 19]  # type: ignore[type-var]
    # On a query source, beneath its own parameters; and an integer bound.
    query = source(ch, query=f"SELECT * FROM `{ch.database}`.n WHERE id < {{hi:UInt64}}", hi=50)
    schema, batches = read(query, predicates=(Predicate("id", ">=", 45),), columns=("id",))
    assert [r["id"] for r in rows(batches, schema)] == [45, 46, 47, 48, 49]


def test_predicate_on_a_column_cast_on_the_server(ch: ChDatabase) -> None:
    ch.client.command("CREATE TABLE e (id Int32, level Enum8('low' = 1, 'high' = 2), at DateTime) ENGINE = Memory")
    ch.client.command("INSERT INTO e VALUES (1, 'low', '2024-01-01 00:00:00'), (2, 'high', '2024-01-01 00:00:01')")
    # the enum compares by its own order (low < high), not as the text it is read as
    schema, batches = read(source(ch, "e"), predicates=(Predicate("level", ">", "low"),))
    assert rows(batches, schema) == [{"id": 2, "level": "high", "at": datetime(2024, 1, 1, 0, 0, 1)}]
    bound = datetime(2024, 1, 1, 0, 0, 0, 500000)  # finer than the column: still a correct cut
    schema, batches = read(source(ch, "e"), predicates=(Predicate("at", "<", bound),), columns=("id",))
    assert rows(batches, schema) == [{"id": 1}]


def test_a_partition_window_on_a_date_column_and_a_uuid_bound(ch: ChDatabase) -> None:
    ch.client.command("CREATE TABLE d (day Date, u UUID) ENGINE = Memory")
    ch.client.command(
        "INSERT INTO d SELECT toDate('2024-01-01') + number, toUUID(concat('00000000-0000-0000-0000-00000000000', "
        "toString(number))) FROM numbers(3)"
    )
    # A session in a time zone ahead of UTC does not move the window (its bounds travel in UTC).
    src = source(ch, "d", settings={"session_timezone": "Asia/Tokyo"})
    window = (Predicate("day", ">=", datetime(2024, 1, 2, tzinfo=UTC)), Predicate("day", "<", datetime(2024, 1, 3)))
    schema, batches = read(src, predicates=window, columns=("day",))
    assert rows(batches, schema) == [{"day": date(2024, 1, 2)}]
    one = uuid.UUID("00000000-0000-0000-0000-000000000001")
    schema, batches = read(source(ch, "d"), predicates=(Predicate("u", "==", one),))
    assert rows(batches, schema) == [{"day": date(2024, 1, 2), "u": one}]


def test_columns_subset_in_the_requested_order(ch: ChDatabase) -> None:
    numbers(ch, 5)
    ch.client.command("ALTER TABLE n ADD COLUMN twice UInt64 MATERIALIZED id * 2")
    schema, batches = read(source(ch, "n"), columns=("nk", "id"))
    assert schema.names == ["nk", "id"]
    assert rows(batches, schema)[3] == {"nk": None, "id": 3}
    assert read(source(ch, "n"))[0].names == ["id", "grp", "at", "nk"]  # MATERIALIZED only when named
    schema, batches = read(source(ch, "n"), columns=("twice",))
    assert sorted(r["twice"] for r in rows(batches, schema)) == [0, 2, 4, 6, 8]  # type: ignore[type-var]
    with pytest.raises(TerminalError, match="has no column nope"):
        source(ch, "n").read(ReadRequest(columns=("id", "nope")))


def test_awkward_column_names_round_trip(ch: ChDatabase) -> None:
    ch.client.command("CREATE TABLE q (`we``ird` Int8, `back\\\\slash` Enum8('a'=1), `ünï code` String) ENGINE=Memory")
    ch.client.command("INSERT INTO q VALUES (1, 'a', 'x')")
    src = source(ch, "q")
    assert src.catalog()[1][0] == "back\\slash"
    schema, batches = read(src, predicates=(Predicate("we`ird", ">=", 1), Predicate("back\\slash", "==", "a")))
    assert rows(batches, schema) == [{"we`ird": 1, "back\\slash": "a", "ünï code": "x"}]


def test_batches_are_rechunked_to_batch_rows(ch: ChDatabase) -> None:
    numbers(ch, 10_000)
    schema, batches = read(source(ch, "n"), batch_rows=3000)
    assert [b.num_rows for b in batches] == [3000, 3000, 3000, 1000]
    assert all(b.schema.equals(schema) for b in batches)
    assert sum(b.column("id").to_numpy().sum() for b in batches) == sum(range(10_000))


def test_nothing_is_read_before_the_first_pull(ch: ChDatabase) -> None:
    numbers(ch, 3)
    reader = source(ch, "n").read(ReadRequest())
    assert reader.schema.names == ["id", "grp", "at", "nk"]
    ch.client.command("INSERT INTO n (id, grp, at) VALUES (99, 'late', now64(6))")
    assert pa.Table.from_batches(list(reader), reader.schema).num_rows == 4


def test_empty_table_has_its_schema_and_no_rows(ch: ChDatabase) -> None:
    numbers(ch, 0)
    schema, batches = read(source(ch, "n"))
    assert schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert sum(b.num_rows for b in batches) == 0


def test_key_bounds(ch: ChDatabase) -> None:
    numbers(ch, 50)
    assert source(ch, "n").key_bounds("id") == (0, 49)
    query = f"SELECT id FROM `{ch.database}`.n WHERE id > {{lo:UInt64}}"
    assert source(ch, query=query, lo=40).key_bounds("id") == (41, 49)
    with pytest.raises(ConfigurationError, match="NULL"):
        source(ch, "n").key_bounds("nk")
    with pytest.raises(ConfigurationError, match="integer column"):
        source(ch, "n").key_bounds("grp")
    ch.client.command("CREATE TABLE empty (id Int32) ENGINE = MergeTree ORDER BY id")
    assert source(ch, "empty").key_bounds("id") is None


def test_a_type_arrow_cannot_hold_names_its_column(ch: ChDatabase) -> None:
    ch.client.command("CREATE TABLE w (id Int8, huge Int256) ENGINE = Memory")
    ch.client.command(f"INSERT INTO w VALUES (1, 5), (2, {-(2**255)})")  # 78 digits: no Arrow decimal holds it
    with pytest.raises(TerminalError, match="column huge") as err:
        source(ch, "w").read(ReadRequest())
    assert err.value.fix and "toString(huge)" in err.value.fix


def test_int128_values_at_the_extremes_read_exactly(ch: ChDatabase) -> None:
    ch.client.command("CREATE TABLE w (id Int8, big Int128, ubig UInt128) ENGINE = Memory")
    ch.client.command(f"INSERT INTO w VALUES (1, {-(2**127)}, {2**128 - 1}), (2, 0, 0)")
    table = source(ch, "w").read(ReadRequest()).read_all().sort_by("id")
    assert table.schema.field("big").type == pa.decimal256(39, 0)
    assert [int(v) for v in table.column("big").to_pylist()] == [-(2**127), 0]
    assert [int(v) for v in table.column("ubig").to_pylist()] == [2**128 - 1, 0]


def test_unknown_table_is_a_terminal_error_naming_it(ch: ChDatabase) -> None:
    with pytest.raises(TerminalError, match=f"source table {ch.database}.missing does not exist") as err:
        source(ch, "missing").read(ReadRequest())
    assert err.value.fix and "source.table" in err.value.fix
    with pytest.raises(TerminalError, match="missing"):
        source(ch, query="SELECT * FROM missing").read(ReadRequest())


def test_names_identity_and_stored_tables(ch: ChDatabase) -> None:
    numbers(ch, 1)
    ch.client.command("CREATE VIEW v AS SELECT id FROM n")
    src = source(ch, "n")
    assert src.describe() == f"clickhouse:{src.where}/{ch.database}.n"
    assert src.lineage_name() == (f"clickhouse://{ch.server.host}:{ch.server.port}", f"{ch.database}.n")
    assert src.database_identity() == f"clickhouse:{src.where}/{ch.database}"
    assert src.is_stored_table() is True
    assert source(ch, "v").is_stored_table() is False
    assert source(ch, query="SELECT 1").is_stored_table() is False
    other = ClickHouseSource(
        ch.dpone_client(), database="default", table=TableRef(ch.database, "n"), query=None, params={}, where=src.where
    )
    assert other.describe() == src.describe()
    other.close()
