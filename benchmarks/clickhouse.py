"""Benchmark: dpone's ClickHouse sink against the raw clickhouse-connect path, in the same run.

    .venv/bin/python benchmarks/clickhouse.py [--rows 1000000 5000000] [--workdir DIR] [--cases 1 2] [--repeat N]

ClickHouse is chDB's engine (26.9) behind the test HTTP shim (``tests/integration/clickhouse/chshim.py``),
a separate process on 127.0.0.1, so the children's RSS is the client's alone; a real
``clickhouse-server`` cannot be installed here. The data (7 columns: id, customer_id bigint,
amount decimal(18,2), status and email text, updated_at timestamptz, flag boolean) is generated once
with DuckDB as Parquet files of 250,000 rows (the generator of ``benchmarks/s3.py``).

1. Parquet files -> ClickHouse
   raw    ``pyarrow.dataset(...).to_table()`` and one ``client.insert_arrow`` of it into a table
          created with the same column types (``async_insert=0``); it holds the whole table
   dpone  files source ``{path: in/*.parquet, format: parquet}`` -> clickhouse sink, full_refresh
2. Postgres -> ClickHouse (a Postgres server with its defaults)
   raw    ADBC ``fetch_arrow_table()`` of ``SELECT * FROM src`` and one ``insert_arrow``
   dpone  postgres source ``public.src`` -> clickhouse sink, full_refresh

dpone's time includes what its commit protocol adds (staging table, the built table, the swap, the
journal rows, contract gates); the raw path does none of it. Seconds are timed inside the child
after its imports; peak RSS is the child's own VmHWM. With ``--repeat N`` each case runs N rounds,
raw and dpone alternately, each round into new tables (so both see the same load of a shared
machine); the figures are medians over the rounds, ``dpone/raw`` the median of the rounds' ratios,
peak RSS the largest. The table prints rows/s, peak RSS and ``dpone/raw`` (dpone's rows/s over the
raw path's), then how dpone's RSS grew from the smallest size, and the shim's count of the HTTP
requests of dpone's last load of each case.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from clickhouse_children import DPONE, RAW_PARQUET_CH, RAW_PG_CH  # noqa: E402
from s3 import PG_PASSWORD_ENV, Postgres, Result, child, child_env, generate, manifest  # noqa: E402

from tests.integration.clickhouse.conftest import ClickHouseServer, start_shim  # noqa: E402
from tests.integration.postgres.pgserver import start_server as start_postgres  # noqa: E402

Row = dict[str, Any]
"""One child's figures (rows, seconds, steps, rss_mb, ...)."""


def rounds(
    repeat: int, admin: Any, database: str, tables: tuple[str, str], measure: Callable[[], tuple[Row, Row]]
) -> tuple[Row, Row, float]:
    """``repeat`` rounds of ``measure`` (raw, then dpone) into new tables: the medians and the median ratio."""
    pairs = []
    for _ in range(repeat):
        for name in tables:
            admin.command(f"DROP TABLE IF EXISTS {database}.{name} SYNC")
        pairs.append(measure())

    def median(side: int) -> Row:
        runs = [pair[side] for pair in pairs]
        return {
            **runs[-1],
            "seconds": statistics.median(r["seconds"] for r in runs),
            "rss_mb": max(r["rss_mb"] for r in runs),
            "rounds": [round(r["seconds"], 3) for r in runs],
        }

    return median(0), median(1), statistics.median(raw["seconds"] / ours["seconds"] for raw, ours in pairs)


def bench(
    rows: int,
    workdir: Path,
    ch: ClickHouseServer,
    pg: Postgres | None,
    env: dict[str, str],
    cases: set[int],
    repeat: int = 1,
) -> list[Result]:
    """The ``cases`` for one size."""
    folder = workdir / f"rows_{rows}"
    print(f"\n{rows:,} rows: generating ...", flush=True)
    files = generate(folder / "in", rows)
    database = f"bench_{rows}"
    admin = ch.client()
    admin.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    admin.command(f"CREATE DATABASE {database} ENGINE = Atomic")
    target = {"type": "clickhouse", "host": ch.host, "port": ch.port, "database": database, "compression": "none"}
    results: list[Result] = []

    def measured(raw_code: str, raw_args: tuple[str, ...], path: Path) -> tuple[Row, Row]:
        raw = child(raw_code, env, *raw_args)
        before = len(ch.requests())
        ours = child(DPONE, env, str(path))
        ours["requests"] = len(ch.requests()) - before
        return raw, ours

    def report(case: str, raw: Row, ours: Row, ratio: float, table: str) -> None:
        loaded = admin.query(f"SELECT count() FROM {database}.{table}").result_rows[0][0]
        assert raw["rows"] == ours["rows"] == loaded == rows, (case, raw, ours, loaded)
        steps = ", ".join(f"{k} {v:.2f}s" for k, v in ours["steps"].items())
        print(
            f"  {case}: raw {raw['seconds']:.2f}s {raw['rounds']}, dpone {ours['seconds']:.2f}s {ours['rounds']} "
            f"(last: {steps}; {ours['requests']} requests)",
            flush=True,
        )
        results.append((case, rows, {**raw, "ratio": ratio}, ours))

    if 1 in cases:
        path = manifest(
            folder, "files_to_ch",
            {"inbox": {"type": "files", "root": str(folder / "in")}, "ch": target},
            {"connection": "inbox", "path": "*.parquet", "format": "parquet"},
            {"connection": "ch", "table": "dpone_files", "strategy": "full_refresh", "primary_key": ["id"]},
        )  # fmt: skip
        raw_args = (str(ch.port), str(folder / "in"), database, "raw_files")
        raw, ours, ratio = rounds(
            repeat, admin, database, ("raw_files", "dpone_files"), lambda: measured(RAW_PARQUET_CH, raw_args, path)
        )
        report("Parquet -> ClickHouse", raw, ours, ratio, "dpone_files")
    if pg is not None and 2 in cases:
        db = f"bench_{rows}"
        pg.sql("postgres", f"DROP DATABASE IF EXISTS {db}")
        pg.sql("postgres", f"CREATE DATABASE {db}")
        print("  loading the Postgres source table ...", flush=True)
        pg.load_source(db, files)
        pg.settle(db)
        source = {
            "type": "postgres", "host": pg.server.host, "port": pg.server.port, "database": db,
            "user": pg.server.user, "password": "${env:" + PG_PASSWORD_ENV + "}",
        }  # fmt: skip
        path = manifest(
            folder, "pg_to_ch", {"pg": source, "ch": target},
            {"connection": "pg", "table": "public.src"},
            {"connection": "ch", "table": "dpone_pg", "strategy": "full_refresh", "primary_key": ["id"]},
        )  # fmt: skip
        raw_args = (str(ch.port), pg.uri(db), database, "raw_pg")

        def measure_pg() -> tuple[Row, Row]:
            pg.settle(db)
            return measured(RAW_PG_CH, raw_args, path)

        raw, ours, ratio = rounds(repeat, admin, database, ("raw_pg", "dpone_pg"), measure_pg)
        report("Postgres -> ClickHouse", raw, ours, ratio, "dpone_pg")
        pg.sql("postgres", f"DROP DATABASE {db}")
    admin.command(f"DROP DATABASE {database} SYNC")
    return results


def main() -> None:
    """Start the servers, run every size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--cases", type=int, nargs="+", choices=[1, 2], default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="Rounds per case (medians; raw and dpone alternate).")
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="dpone-bench-ch-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    ch = start_shim()
    server = start_postgres(prefix="dpone-bench-") if 2 in args.cases else None
    pg = Postgres(server) if server is not None else None
    env = child_env(server)
    started = time.perf_counter()
    try:
        warm = DPONE.split("start = time.perf_counter()", maxsplit=1)[0]
        subprocess.run([sys.executable, "-c", warm], env=env, cwd=REPO, check=True)
        print(f"ClickHouse shim (chDB) on 127.0.0.1:{ch.port}, workdir {workdir}")
        results = [
            r for rows in sorted(args.rows) for r in bench(rows, workdir, ch, pg, env, set(args.cases), args.repeat)
        ]
    finally:
        ch.stop()
        if server is not None:
            server.stop()
    print(f"\nall sizes took {time.perf_counter() - started:.0f}s; {args.repeat} round(s) of each measurement")
    print(
        f"{'case':24} {'rows':>10} | {'raw rows/s':>11} {'raw RSS':>8} | "
        f"{'dpone rows/s':>12} {'dpone RSS':>9} | dpone/raw"
    )
    for case, rows, raw, ours in results:
        print(
            f"{case:24} {rows:>10,} | {rows / raw['seconds']:11,.0f} {raw['rss_mb']:6.0f}MB | "
            f"{rows / ours['seconds']:12,.0f} {ours['rss_mb']:7.0f}MB | {raw['ratio']:9.2f}"
        )
    sizes = sorted({rows for _, rows, _, _ in results})
    if len(sizes) > 1:
        for case in dict.fromkeys(c for c, _, _, _ in results):
            peak = {rows: ours["rss_mb"] for c, rows, _, ours in results if c == case}
            print(
                f"dpone peak RSS {case}: {peak[sizes[0]]:.0f}MB -> {peak[sizes[-1]]:.0f}MB "
                f"({peak[sizes[-1]] / peak[sizes[0]]:.2f}x)"
            )
    print(
        json.dumps(
            {
                "results": [
                    [
                        c,
                        r,
                        raw["seconds"],
                        ours["seconds"],
                        raw["rss_mb"],
                        ours["rss_mb"],
                        raw["ratio"],
                        ours["requests"],
                    ]
                    for c, r, raw, ours in results
                ]
            }
        )
    )


if __name__ == "__main__":
    main()
