"""Benchmark: dpone's S3 connector against the raw pyarrow / DuckDB / ADBC path, in the same run.

    .venv/bin/python benchmarks/s3.py [--rows 1000000 5000000] [--workdir DIR] [--skip-postgres] [--cases 1 2 3 4]

It starts a moto S3 server (``tests/integration/s3/motoserver.py``) and, unless ``--skip-postgres``,
a Postgres server with its defaults (``tests/integration/postgres/pgserver.py``). For each size it
generates the data once with DuckDB (7 columns: id, customer_id bigint, amount decimal(18,2), status
and email text, updated_at timestamptz, flag boolean) as Parquet files of 250,000 rows, uploads them
to a fresh bucket under ``in/`` and loads them into the Postgres table ``src`` (primary key on id).
Then, per case, the raw path and dpone each run once, in a fresh subprocess:

1. Parquet on S3 -> DuckDB
   raw    ``pyarrow.dataset`` over ``pyarrow.fs.S3FileSystem``, its scanner's RecordBatchReader
          streamed into DuckDB by ``CREATE TABLE t AS SELECT * FROM reader`` (as fast as
          ``to_table()`` first, and without holding the whole table)
   dpone  source ``{connection: lake, path: in/*.parquet, format: parquet}`` -> duckdb sink, full_refresh
2. Parquet on S3 -> Postgres
   raw    the same dataset reader into ADBC's ``adbc_ingest(mode="create")`` (binary COPY), one
          commit. It was the fastest honest raw path tried: about 2x psycopg2 ``copy_expert`` of
          each batch written as CSV by ``pyarrow.csv``.
   dpone  the same S3 source -> postgres sink, full_refresh (a new table each size)
3. Postgres -> Parquet on S3
   raw    ADBC ``cursor.fetch_arrow_table()`` of ``SELECT * FROM src``, then ``pq.write_table`` of
          it to S3 through ``pyarrow.fs.S3FileSystem`` (one file; it holds the whole table)
   dpone  postgres source ``public.src`` -> s3 sink ``raw.t`` (format parquet), full_refresh
4. Postgres -> Delta on S3
   raw    the same ADBC fetch, then ``deltalake.write_deltalake(mode="overwrite")`` of it
   dpone  postgres source ``public.src`` -> s3 sink ``raw.td`` (format delta), full_refresh

Seconds are timed inside the child, after its imports (dpone, pyarrow, boto3, the drivers) and
before it exits; they include opening the S3 filesystem and the connections. Peak RSS is the
child's own VmHWM (``benchmarks/peak_rss.py``): ``wait4``'s figure starts from the benchmark's RSS
at the fork and showed the parent's memory, not the child's (none of these cases starts a process).
Before each Postgres measurement the database is vacuumed and checkpointed, outside the
timing. The table shows rows, seconds, rows/s and peak RSS of each path and ``dpone/raw``, dpone's
rows/s divided by the raw path's (1.00: as fast; 0.50: half as fast); at the end, how dpone's peak
RSS grew from the smallest to the largest size in each case.

The children's code is in ``benchmarks/s3_children.py``. moto is a Python server in the same
2-core box: S3 throughput here is moto's, not AWS's, and both paths share it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.integration.postgres.pgserver import PostgresServer  # noqa: E402
from tests.integration.postgres.pgserver import start_server as start_postgres  # noqa: E402
from tests.integration.s3.motoserver import ACCESS_KEY, SECRET_KEY, MotoServer  # noqa: E402
from tests.integration.s3.motoserver import start_server as start_moto  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from s3_children import DPONE, RAW_PG_DELTA, RAW_PG_S3, RAW_S3_DUCKDB, RAW_S3_PG  # noqa: E402

FILE_ROWS = 250_000
S3_SECRET_ENV = "DPONE_BENCH_S3_SECRET"
PG_PASSWORD_ENV = "DPONE_BENCH_PG_PASSWORD"
COLUMNS = """id bigint PRIMARY KEY, customer_id bigint, amount numeric(18,2), status text, email text,
  updated_at timestamptz, flag boolean"""


def generate(folder: Path, rows: int) -> list[Path]:
    """Write ``rows`` rows as Parquet files of FILE_ROWS rows with DuckDB (kept in ``folder`` for a rerun)."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for number, first in enumerate(range(0, rows, FILE_ROWS)):
        path = folder / f"part-{number:05d}.parquet"
        files.append(path)
        if path.exists():
            continue
        last = min(first + FILE_ROWS, rows)
        duckdb.sql(
            f"""COPY (SELECT i::BIGINT AS id, (i % 9000)::BIGINT AS customer_id,
                       ((i % 50000) / 100.0)::DECIMAL(18,2) AS amount,
                       ['new','paid','shipped','cancelled'][1 + (i % 4)] AS status,
                       'customer' || (i % 9000) || '@example.com' AS email,
                       TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i) AS updated_at,
                       (i % 2 = 0) AS flag
                FROM range({first}, {last}) r(i)) TO '{path}.tmp' (FORMAT parquet, ROW_GROUP_SIZE 122880)"""
        )
        Path(f"{path}.tmp").rename(path)
    return files


def child_env(pg: PostgresServer | None) -> dict[str, str]:
    """The environment of every child: the secrets the manifests reference, bytecode allowed.

    The secrets also go into this process's environment: its checks read dpone's targets too.
    """
    os.environ["DPONE_BENCH_S3_KEY"] = ACCESS_KEY
    os.environ[S3_SECRET_ENV] = SECRET_KEY
    if pg is not None:
        os.environ[PG_PASSWORD_ENV] = pg.password
    # An installed package has its .pyc files; without them every dpone start recompiles its imports.
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def child(code: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; its JSON line plus ``rss_mb``, its own peak RSS (VmHWM)."""
    command = [sys.executable, "-c", code, *args]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode:
        raise RuntimeError(f"benchmark child failed ({done.returncode}):\n{done.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["rss_mb"] = figures["hwm_mb"]  # not wait4's: see peak_rss.py
    return figures


class Postgres:
    """Admin statements on the benchmark server (psycopg2, autocommit)."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def uri(self, db: str) -> str:
        """An ADBC URI with the literal ``PASSWORD`` in place of the password (children fill it in)."""
        return f"postgresql://{self.server.user}:PASSWORD@{self.server.host}:{self.server.port}/{db}"

    def sql(self, db: str, statement: str) -> list[tuple[Any, ...]]:
        """Run one statement (outside a transaction) and return its rows, if any."""
        import psycopg2

        s = self.server
        con = psycopg2.connect(host=s.host, port=s.port, user=s.user, password=s.password, dbname=db)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall() if cur.description else []
        finally:
            con.close()

    def settle(self, db: str) -> None:
        """Nothing left for autovacuum, no checkpoint pending: the next measurement has the cores."""
        self.sql(db, "VACUUM ANALYZE")
        self.sql(db, "CHECKPOINT")

    def load_source(self, db: str, files: list[Path]) -> None:
        """``src`` with its primary key, filled from the generated files (ADBC, untimed)."""
        import adbc_driver_postgresql.dbapi as adbc
        import pyarrow.dataset as ds

        self.sql(db, f"CREATE TABLE src ({COLUMNS})")
        uri = self.uri(db).replace("PASSWORD", self.server.password)
        with adbc.connect(uri) as conn:
            with conn.cursor() as cur:
                cur.adbc_ingest(
                    "src", ds.dataset([str(f) for f in files], format="parquet").scanner().to_reader(), mode="append"
                )
            conn.commit()


def manifest(
    folder: Path, name: str, connections: dict[str, Any], source: dict[str, Any], sink: dict[str, Any]
) -> Path:
    """A one-process manifest."""
    doc = {"version": 1, "connections": connections, "processes": [{"name": name, "source": source, "sink": sink}]}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def s3_rows(moto: MotoServer, uris: list[str]) -> int:
    """Rows of Parquet objects on the moto server, from their footers."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    s3 = pafs.S3FileSystem(
        endpoint_override=moto.url.removeprefix("http://"),
        scheme="http",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region="us-east-1",
    )
    total = 0
    for uri in uris:
        with s3.open_input_file(uri.removeprefix("s3://")) as handle:
            total += pq.ParquetFile(handle).metadata.num_rows
    return total


def delta_rows(moto: MotoServer, uri: str) -> int:
    """Rows of the Delta table at ``uri`` on the moto server."""
    from deltalake import DeltaTable

    options = {
        "AWS_ENDPOINT_URL": moto.url, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }  # fmt: skip
    return int(DeltaTable(uri, storage_options=options).to_pyarrow_dataset().count_rows())


Result = tuple[str, int, dict[str, Any], dict[str, Any]]
"""(case, rows, raw figures, dpone figures)."""


def bench(
    rows: int, workdir: Path, moto: MotoServer, pg: Postgres | None, env: dict[str, str], cases: set[int]
) -> list[Result]:
    """The ``cases`` (numbered as in the module docstring) for one size."""
    folder = workdir / f"rows_{rows}"
    print(f"\n{rows:,} rows: generating and uploading ...", flush=True)
    files = generate(folder / "in", rows)
    bucket = moto.new_bucket()
    client = moto.client()
    for path in files:
        client.upload_file(str(path), bucket, f"in/{path.name}")
    lake = {
        "type": "s3",
        "bucket": bucket,
        "endpoint_url": moto.url,
        "region": "us-east-1",
        "access_key_id": ACCESS_KEY,
        "secret_access_key": "${env:" + S3_SECRET_ENV + "}",
    }
    s3_source = {"connection": "lake", "path": "in/*.parquet", "format": "parquet"}
    results: list[Result] = []

    def report(case: str, raw: dict[str, Any], ours: dict[str, Any]) -> None:
        assert raw["rows"] == ours["rows"] == rows, (case, raw, ours)
        steps = ", ".join(f"{k} {v:.2f}s" for k, v in ours["steps"].items())
        print(f"  {case}: raw {raw['seconds']:.2f}s, dpone {ours['seconds']:.2f}s ({steps})", flush=True)
        results.append((case, rows, raw, ours))

    def pair(
        code: str, args: list[str], name: str, connections: dict[str, Any], source: Any, sink: Any, db: str = ""
    ) -> tuple[dict[str, Any], dict[str, Any], Path]:
        """The raw path's child, then dpone's run of a one-process manifest, each after a settle of ``db``."""
        if pg is not None and db:
            pg.settle(db)
        raw = child(code, env, moto.url, bucket, *args)
        path = manifest(folder, name, connections, source, sink)
        if pg is not None and db:
            pg.settle(db)
        return raw, child(DPONE, env, moto.url, bucket, str(path)), path

    # 1. Parquet on S3 -> DuckDB
    if 1 in cases:
        for name in ("raw.duckdb", "dpone.duckdb"):
            (folder / name).unlink(missing_ok=True)
        warehouse = {"lake": lake, "wh": {"type": "duckdb", "path": str(folder / "dpone.duckdb")}}
        duckdb_sink = {"connection": "wh", "table": "t", "strategy": "full_refresh"}
        raw, ours, _ = pair(
            RAW_S3_DUCKDB, [str(folder / "raw.duckdb")], "s3_to_duckdb", warehouse, s3_source, duckdb_sink
        )
        import duckdb

        with duckdb.connect(str(folder / "dpone.duckdb"), read_only=True) as con:
            loaded = con.execute("SELECT count(*) FROM t").fetchone()
        assert loaded == (rows,), f"dpone loaded {loaded} rows into DuckDB"
        report("S3 parquet -> DuckDB", raw, ours)

    if pg is not None and cases & {2, 3, 4}:
        db = f"bench_{rows}"
        pg.sql("postgres", f"DROP DATABASE IF EXISTS {db}")
        pg.sql("postgres", f"CREATE DATABASE {db}")
        postgres = {
            "type": "postgres",
            "host": pg.server.host,
            "port": pg.server.port,
            "database": db,
            "user": pg.server.user,
            "password": "${env:" + PG_PASSWORD_ENV + "}",
        }
        connections = {"lake": lake, "pg": postgres}
        pg_source = {"connection": "pg", "table": "public.src"}

        # 2. Parquet on S3 -> Postgres
        if 2 in cases:
            pg_sink = {"connection": "pg", "table": "public.t_dpone", "strategy": "full_refresh"}
            raw, ours, _ = pair(RAW_S3_PG, [pg.uri(db), "t_raw"], "s3_to_pg", connections, s3_source, pg_sink, db)
            for table in ("t_raw", "t_dpone"):
                count = pg.sql(db, f"SELECT count(*) FROM {table}")[0][0]
                assert count == rows, f"{table} has {count} rows"
            report("S3 parquet -> Postgres", raw, ours)

        # 3. Postgres -> Parquet on S3
        if cases & {3, 4}:
            print("  loading the Postgres source table ...", flush=True)
            pg.load_source(db, files)
        if 3 in cases:
            raw_key = "rawpath/t/part-00000.parquet"
            table_sink = {"connection": "lake", "table": "raw.t", "format": "parquet", "strategy": "full_refresh"}
            raw, ours, path = pair(RAW_PG_S3, [pg.uri(db), raw_key], "pg_to_s3", connections, pg_source, table_sink, db)
            from dpone_core.api import committed_files

            written = s3_rows(moto, committed_files(path, "pg_to_s3"))
            assert written == rows, f"dpone's committed files hold {written} rows"
            assert s3_rows(moto, [f"s3://{bucket}/{raw_key}"]) == rows
            report("Postgres -> S3 parquet", raw, ours)

        # 4. Postgres -> Delta on S3
        if 4 in cases:
            delta_sink = {"connection": "lake", "table": "raw.td", "format": "delta", "strategy": "full_refresh"}
            args = [pg.uri(db), "rawdelta/t"]
            raw, ours, _ = pair(RAW_PG_DELTA, args, "pg_to_delta", connections, pg_source, delta_sink, db)
            for key in ("rawdelta/t", "raw/td"):
                assert delta_rows(moto, f"s3://{bucket}/{key}") == rows, f"{key} does not hold {rows} rows"
            report("Postgres -> S3 delta", raw, ours)
        pg.sql("postgres", f"DROP DATABASE {db}")
    return results


def main() -> None:
    """Parse arguments, start the servers, run every size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--workdir", type=Path, default=None, help="where the generated files and manifests go")
    parser.add_argument("--skip-postgres", action="store_true", help="only Parquet on S3 -> DuckDB")
    parser.add_argument(
        "--cases", type=int, nargs="+", choices=[1, 2, 3, 4], default=[1, 2, 3, 4], help="e.g. 4: Delta"
    )
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="dpone-bench-s3-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    moto = start_moto()
    server = None if args.skip_postgres else start_postgres(prefix="dpone-bench-")
    pg = Postgres(server) if server is not None else None
    env = child_env(server)
    started = time.perf_counter()
    try:
        # Warm the page cache for the children's imports; the first measured child should not pay it.
        warm = DPONE.split("start = time.perf_counter()", maxsplit=1)[0]
        subprocess.run([sys.executable, "-c", warm], env=env, cwd=REPO, check=True)
        if pg is not None:
            version = pg.sql("postgres", "SHOW server_version")[0][0]
            print(f"postgres {version} on 127.0.0.1:{server.port} (defaults), ", end="")  # type: ignore[union-attr]
        print(f"moto S3 at {moto.url}, {os.cpu_count()} cores, workdir {workdir}")
        results = [r for rows in sorted(args.rows) for r in bench(rows, workdir, moto, pg, env, set(args.cases))]
    finally:
        moto.stop()
        if server is not None:
            server.stop()
    print(f"\nall sizes took {time.perf_counter() - started:.0f}s; one run of each measurement")
    print(
        f"{'case':24} {'rows':>10} | {'raw s':>7} {'raw rows/s':>11} {'raw RSS':>8} | "
        f"{'dpone s':>7} {'dpone rows/s':>12} {'dpone RSS':>9} | {'dpone/raw':>9}"
    )
    for case, rows, raw, ours in results:
        print(
            f"{case:24} {rows:>10,} | {raw['seconds']:7.2f} {rows / raw['seconds']:11,.0f} {raw['rss_mb']:6.0f}MB | "
            f"{ours['seconds']:7.2f} {rows / ours['seconds']:12,.0f} {ours['rss_mb']:7.0f}MB | "
            f"{raw['seconds'] / ours['seconds']:9.2f}"
        )
    print("dpone/raw: dpone's rows/s divided by the raw path's (1.00: as fast, 0.50: half as fast)")
    sizes = sorted({rows for _, rows, _, _ in results})
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        for case in dict.fromkeys(case for case, _, _, _ in results):
            peak = {rows: ours["rss_mb"] for c, rows, _, ours in results if c == case}
            raw_peak = {rows: raw["rss_mb"] for c, rows, raw, _ in results if c == case}
            print(
                f"dpone peak RSS {case}: {peak[first]:.0f}MB at {first:,} rows -> {peak[last]:.0f}MB at {last:,} "
                f"rows ({peak[last] / peak[first]:.2f}x, +{peak[last] - peak[first]:.0f}MB; "
                f"raw {raw_peak[first]:.0f} -> {raw_peak[last]:.0f}MB)"
            )


if __name__ == "__main__":
    main()
