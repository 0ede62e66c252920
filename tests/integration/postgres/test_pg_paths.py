"""PG -> PG, PG -> DuckDB and files -> PG paths; identifier and value torture; errors; schema changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.postgres.conftest import PASSWORD_ENV, PgDatabase, run_cli, run_ok

pytestmark = pytest.mark.integration

NASTY = [
    "plain",
    "comma, separated",
    "double \"quotes\" and 'single'",
    "new\nline and\r\nCRLF",
    "back\\slash \\N \\\\",
    "tab\there",
    "unicode: żółć 日本語 🚀",
    "",
    None,
    "trailing space ",
    "%s %(x)s %%",
]


def _torture_source(pg: PgDatabase) -> None:
    pg.sql('CREATE SCHEMA "Weird Schema"')
    pg.sql("CREATE TYPE mood AS ENUM ('sad', 'happy')")
    pg.sql(
        'CREATE TABLE "Weird Schema"."Mixed ""Quoted"" Table" ('
        '"Id" int PRIMARY KEY, "select" text, "col with space" text NOT NULL, "Ünïcode" numeric(10, 3), '
        '"a%b" varchar(40), u uuid, doc jsonb, raw json, bin bytea, ints int[], tags text[], span interval, '
        "m mood, t time, d date, ts timestamp, tstz timestamptz, free numeric, f4 real, f8 double precision)"
    )
    con = pg.connect()
    with con.cursor() as cur:
        for i, text in enumerate(NASTY):
            cur.execute(
                'INSERT INTO "Weird Schema"."Mixed ""Quoted"" Table" VALUES (%s, %s, %s, %s, %s, gen_random_uuid(), '
                "%s::jsonb, %s::json, %s, %s, %s, %s::interval, %s, '23:59:59.999999', '0001-01-01', "
                "'2026-03-29 02:30:00', '2026-03-29 02:30:00.123456+02', %s, 1.5, -0.000001)",
                (
                    i,
                    text,
                    text if text is not None else "",
                    f"{i}.125",
                    text,
                    json.dumps({"text": text, "n": i}),
                    '{"b": 1,  "a": [1, 2]}',
                    (text or "").encode() + b"\x00\xff",
                    [i, None, -i],
                    [text, None],
                    f"{i} months {i} days 00:00:0{i}.5",
                    "happy" if i % 2 else "sad",
                    "123456789.123456789",
                ),
            )
    con.close()


def _same(pg: PgDatabase, left: str, right: str, columns: str) -> None:
    for a, b in ((left, right), (right, left)):
        diff = pg.sql(f"SELECT {columns} FROM {a} EXCEPT SELECT {columns} FROM {b}")
        assert diff == [], f"rows of {a} not in {b}: {diff}"


TORTURE_COLUMNS = (
    # json lands as jsonb (documented): compare it as jsonb; everything else must be identical
    '"Id", "select", "col with space", "Ünïcode", "a%b", u, doc, raw::jsonb, bin, ints, tags, span, m::text, t, d, '
    "ts, tstz, free, f4, f8"
)


def test_identifiers_and_values_survive_pg_to_pg_byte_for_byte(pg: PgDatabase) -> None:
    _torture_source(pg)
    manifest = pg.manifest(
        [
            {
                "name": "torture",
                "source": {"connection": "pg", "table": 'Weird Schema.Mixed "Quoted" Table'},
                "sink": {
                    "connection": "pg",
                    "schema": "Weird Schema",
                    "table": 'Target "T" select.x',
                    "strategy": "merge",
                    "primary_key": ["Id"],
                },
            }
        ]
    )
    first = run_ok(manifest)
    assert first.result.inserted_rows == len(NASTY)
    target = '"Weird Schema"."Target ""T"" select.x"'
    _same(pg, '"Weird Schema"."Mixed ""Quoted"" Table"', target, TORTURE_COLUMNS)
    assert pg.sql(f'SELECT count(*) FROM {target} WHERE "select" IS NULL')[0][0] == 1
    assert pg.sql(f"SELECT count(*) FROM {target} WHERE \"select\" = ''")[0][0] == 1
    types = dict(
        pg.sql(
            "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
            'JOIN pg_attribute a ON a.attrelid = \'"Weird Schema"."Target ""T"" select.x"\'::regclass '
            "AND a.attname = c.column_name WHERE c.table_name = 'Target \"T\" select.x'"
        )
    )
    assert types["Ünïcode"] == "numeric(10,3)" and types["tstz"] == "timestamp with time zone"
    assert types["u"] == "uuid" and types["doc"] == "jsonb" and types["ints"] == "integer[]"
    assert types["span"] == "interval" and types["free"] == "numeric(38,9)"
    second = run_ok(manifest)
    assert (second.result.inserted_rows, second.result.updated_rows) == (0, 0)


def test_pg_to_duckdb_keeps_values_and_reruns(pg: PgDatabase) -> None:
    import duckdb

    _torture_source(pg)
    manifest = pg.manifest(
        [
            {
                "name": "to_duck",
                "source": {
                    "connection": "pg",
                    "table": 'Weird Schema.Mixed "Quoted" Table',
                    "columns": ["Id", "select", "col with space", "Ünïcode", "tstz", "ints", "d", "u", "doc", "span"],
                },
                "sink": {"connection": "wh", "table": 'main.Mixed "T"', "strategy": "merge", "primary_key": ["Id"]},
            }
        ],
        connections={"wh": {"type": "duckdb", "path": "wh.duckdb"}},
    )
    run_ok(manifest)
    second = run_ok(manifest)
    assert (second.result.inserted_rows, second.result.updated_rows) == (0, 0)
    con = duckdb.connect(str(pg.folder / "wh.duckdb"), read_only=True)
    got = con.execute('SELECT "Id", "select", "Ünïcode", tstz, ints FROM main."Mixed ""T""" ORDER BY 1').fetchall()
    con.close()
    want = pg.sql(
        'SELECT "Id", "select", "Ünïcode", tstz, ints FROM "Weird Schema"."Mixed ""Quoted"" Table" ORDER BY 1'
    )
    assert got == [tuple(r) for r in want]


def test_files_to_pg_parquet_keeps_null_vs_empty_and_nasty_text(pg: PgDatabase) -> None:
    folder = pg.folder / "inbox"
    folder.mkdir()
    table = pa.table(
        {
            "id": pa.array(range(len(NASTY)), pa.int64()),
            "text": pa.array(NASTY, pa.string()),
            "ts": pa.array([1_700_000_000_000_000 + i for i in range(len(NASTY))], pa.timestamp("us", tz="UTC")),
            "amount": pa.array([f"{i}.05" for i in range(len(NASTY))]).cast(pa.decimal128(12, 2)),
        }
    )
    pq.write_table(table, folder / "part-0.parquet")
    manifest = pg.manifest(
        [
            {
                "name": "files",
                "source": {"connection": "inbox", "path": "*.parquet", "format": "parquet"},
                "sink": {"connection": "pg", "table": "public.landed", "strategy": "merge", "primary_key": ["id"]},
            }
        ],
        connections={"inbox": {"type": "files", "root": "inbox"}},
    )
    run_ok(manifest)
    rows = pg.sql("SELECT id, text, ts, amount FROM landed ORDER BY id")
    assert [r[1] for r in rows] == NASTY
    assert [int(r[2].timestamp() * 1_000_000) for r in rows] == table.column("ts").cast(pa.int64()).to_pylist()
    assert [str(r[3]) for r in rows] == [f"{i}.05" for i in range(len(NASTY))]
    assert run_ok(manifest).result.updated_rows == 0


def test_files_to_pg_csv(pg: PgDatabase) -> None:
    folder = pg.folder / "inbox"
    folder.mkdir()
    (folder / "orders.csv").write_text(
        'id,name,amount,updated_at\n1,"Smith, ""Jo""",12.50,2026-01-01T10:00:00Z\n2,"multi\nline",0.01,'
        "2026-01-02T10:00:00+02:00\n",
        encoding="utf-8",
    )
    manifest = pg.manifest(
        [
            {
                "name": "csv",
                "source": {"connection": "inbox", "path": "*.csv", "format": "csv"},
                "sink": {"connection": "pg", "table": "public.orders", "strategy": "merge", "primary_key": ["id"]},
                "schema_contract": {
                    "columns": {
                        "id": {"type": "int64"},
                        "amount": {"type": "decimal", "precision": 10, "scale": 2},
                        "updated_at": {"type": "timestamp", "tz": "UTC"},
                    }
                },
            }
        ],
        connections={"inbox": {"type": "files", "root": "inbox"}},
    )
    run_ok(manifest)
    rows = pg.sql(
        "SELECT id, name, amount::text, to_char(updated_at AT TIME ZONE 'UTC', 'HH24') FROM orders ORDER BY id"
    )
    assert rows == [(1, 'Smith, "Jo"', "12.50", "10"), (2, "multi\nline", "0.01", "08")]


def test_new_nullable_column_and_widened_type_rerun(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, qty int NOT NULL, updated_at timestamptz NOT NULL)")
    pg.sql("INSERT INTO src SELECT g, g, now() FROM generate_series(1, 100) g")
    process: dict[str, Any] = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "merge", "primary_key": ["id"]},
    }
    manifest = pg.manifest([process])
    run_ok(manifest)
    run_ok(manifest)
    pg.sql("ALTER TABLE src ADD COLUMN note text; UPDATE src SET note = 'n' || id WHERE id <= 10")
    added = run_ok(manifest)
    assert added.result.updated_rows == 10
    assert pg.sql("SELECT count(note) FROM dst")[0][0] == 10

    pg.sql("ALTER TABLE src ALTER COLUMN qty TYPE bigint; UPDATE src SET qty = 5000000000 WHERE id = 1")
    refused = run_cli(manifest, "--format", "json")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["result"]["errors"][0]["code"] == "DPONE_SCHEMA_EVOLUTION_BLOCKED"
    assert (
        pg.sql(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'dst'::regclass "
            "AND attname = 'qty'"
        )[0][0]
        == "integer"
    )
    process["sink"]["options"] = {"physical_design": {"apply": "offline"}}
    widened = run_ok(pg.manifest([process]))
    assert widened.result.updated_rows == 1
    assert pg.sql("SELECT qty FROM dst WHERE id = 1")[0][0] == 5_000_000_000
    columns = pg.sql(
        "SELECT column_name, is_nullable, data_type FROM information_schema.columns "
        "WHERE table_name = 'dst' ORDER BY ordinal_position"
    )
    assert columns == [
        ("id", "NO", "integer"),
        ("qty", "NO", "bigint"),
        ("updated_at", "NO", "timestamp with time zone"),
        ("note", "YES", "text"),
    ]
    run_ok(pg.manifest([process]))


def _error(manifest: Path) -> tuple[int, dict[str, Any], str]:
    result = run_cli(manifest, "--format", "json")
    doc = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    errors = doc.get("result", {}).get("errors", [{}])
    return result.returncode, errors[0] if errors else {}, result.stdout + result.stderr


def test_connection_errors_are_one_clear_line_without_the_password(pg: PgDatabase, monkeypatch: Any) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY)")
    process = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "append"},
    }
    password = pg.server.password

    monkeypatch.setenv(PASSWORD_ENV, "wrong-password-123")
    code, error, output = _error(pg.manifest([process]))
    assert code == 1 and error["code"] == "DPONE_CONNECTION" and "refused the credentials" in error["line"]
    assert "wrong-password-123" not in output
    monkeypatch.setenv(PASSWORD_ENV, password)

    doc = yaml_manifest(pg, process, database="no_such_db")
    code, error, output = _error(doc)
    assert code == 1 and "database no_such_db does not exist" in error["line"]
    assert password not in output

    free_port = _closed_port()
    code, error, output = _error(yaml_manifest(pg, process, port=free_port))
    assert code == 1 and "cannot reach Postgres" in error["line"]

    missing = {**process, "source": {"connection": "pg", "table": "public.nope"}}
    code, error, output = _error(pg.manifest([missing]))
    assert code == 1 and error["code"] == "DPONE_TERMINAL" and "public.nope does not exist" in error["line"]
    assert pg.sql("SELECT to_regclass('public.dst')")[0][0] is None
    assert password not in output and "Traceback" not in output

    literal = yaml_manifest(pg, process, password="hunter2-literal")
    code, error, output = _error(literal)
    assert code == 2 and "hunter2-literal" not in output


def test_unsupported_type_names_the_column(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, addr inet)")
    pg.sql("INSERT INTO src VALUES (1, '10.0.0.1')")
    process = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "append"},
    }
    code, error, _ = _error(pg.manifest([process]))
    assert code == 1 and "column addr has Postgres type inet" in error["line"] and "::text" in error["line"]
    casted = {
        **process,
        "source": {
            "connection": "pg",
            "query": "SELECT id, host(addr) AS addr FROM src WHERE id >= :lo",
            "params": {"lo": 1},
        },
    }
    run_ok(pg.manifest([casted]))
    assert pg.sql("SELECT addr FROM dst")[0][0] == "10.0.0.1"


def yaml_manifest(pg: PgDatabase, process: dict[str, Any], **profile: Any) -> Path:
    """A manifest whose ``pg`` connection has some fields overridden."""
    import yaml

    doc = {"version": 1, "connections": {"pg": {**pg.profile(), **profile}}, "processes": [process]}
    path = pg.folder / "override.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_numeric_precision_widening_is_applied_online_without_a_rewrite(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, amount numeric(10, 2) NOT NULL)")
    pg.sql("INSERT INTO src SELECT g, g + 0.25 FROM generate_series(1, 100) g")
    process: dict[str, Any] = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "merge", "primary_key": ["id"]},
    }
    manifest = pg.manifest([process])
    run_ok(manifest)
    files = pg.sql("SELECT pg_relation_filenode('dst'), pg_relation_filenode('dst_pkey')")[0]

    pg.sql(
        "ALTER TABLE src ALTER COLUMN amount TYPE numeric(14, 2); UPDATE src SET amount = 123456789012.34 WHERE id = 1"
    )
    widened = run_ok(manifest)  # the default online mode: only the catalog changes
    assert widened.result.updated_rows == 1
    assert any("NUMERIC(14, 2)" in statement.upper() for statement in widened.result.ddl), widened.result.ddl
    assert pg.sql(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'dst'::regclass "
        "AND attname = 'amount'"
    ) == [("numeric(14,2)",)]
    assert pg.sql("SELECT amount::text FROM dst WHERE id = 1") == [("123456789012.34",)]
    # Neither the table nor its key index was rewritten.
    assert pg.sql("SELECT pg_relation_filenode('dst'), pg_relation_filenode('dst_pkey')")[0] == files

    # A scale change is a rewrite: refused online, as int -> bigint is.
    pg.sql("ALTER TABLE src ALTER COLUMN amount TYPE numeric(16, 4)")
    refused = run_cli(manifest, "--format", "json")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["result"]["errors"][0]["code"] == "DPONE_SCHEMA_EVOLUTION_BLOCKED"
