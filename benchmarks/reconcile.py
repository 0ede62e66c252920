"""Reconcile a Postgres table of N rows against a copy with 10 planted differences: segments vs full fetch.

Starts a throwaway Postgres (``tests/integration/postgres/pgserver.py``), builds ``bench.src`` with
``generate_series`` (bigint key, numeric(12,2), text, timestamptz, boolean) and ``bench.dst`` as a
copy with 4 rows missing, 3 extra and 3 changed, then runs each mode in a child process
(``python -c``), which times the comparison after its imports and reports its own peak RSS
(VmHWM, :mod:`peak_rss`). Both must find exactly the 10 differences.

    .venv/bin/python benchmarks/reconcile.py --rows 1000000 --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.append(str(Path(__file__).resolve().parent))

from peak_rss import CHILD_HWM  # noqa: E402

from tests.integration.postgres.pgserver import PostgresServer  # noqa: E402
from tests.integration.postgres.pgserver import start_server as start_postgres  # noqa: E402

CHILD = (
    CHILD_HWM
    + """
import json, time, psycopg2
from dpone_core.reconcile import ReconcileOptions, SqlSide, reconcile
params = json.loads(sys.argv[1])
counter = iter(range(1 << 40))
def side(table):
    con = psycopg2.connect(**params["dsn"])
    con.set_session(isolation_level="REPEATABLE READ", readonly=True)
    def query(sql, values):
        with con.cursor(name=f"c{next(counter)}" if " ORDER BY " in sql else None) as cur:
            cur.itersize = 10000
            cur.execute(sql, dict(values))
            yield from cur
    return SqlSide(query, "postgres", "bench", table)
started = time.perf_counter()
result = reconcile(side("src"), side("dst"), ["id"],
                   options=ReconcileOptions(mode=params["mode"], delete_extra=True, parallel_sides=True))
print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss_mb": hwm(),
                  "differences": result.difference_count, "stats": result.stats}))
"""
)


def build(server: PostgresServer, rows: int) -> None:
    """``bench.src`` of ``rows`` rows and ``bench.dst``, its copy with 10 differences."""
    import psycopg2

    con = psycopg2.connect(server.dsn)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench")
        for table in ("src", "dst"):
            cur.execute(
                f"CREATE TABLE bench.{table} (id bigint PRIMARY KEY, amount numeric(12, 2), name text, "
                "ts timestamptz, flag boolean)"
            )
        cur.execute(
            "INSERT INTO bench.src SELECT i, (i %% 100000) / 4.0, 'name ' || i, "
            "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', i %% 2 = 0 FROM generate_series(1, %s) i",
            (rows,),
        )
        cur.execute("INSERT INTO bench.dst SELECT * FROM bench.src")
        step = rows // 11
        cur.execute("DELETE FROM bench.dst WHERE id = ANY(%s)", ([step, 2 * step, 3 * step, 4 * step],))
        extra = "(%s, 1, 'x', NULL, NULL)"
        cur.execute(f"INSERT INTO bench.dst VALUES {extra}, {extra}, {extra}", (rows + 1, rows + 2, rows + 3))
        cur.execute("UPDATE bench.dst SET name = 'changed' WHERE id = ANY(%s)", ([5 * step, 6 * step, 7 * step],))
        cur.execute("VACUUM ANALYZE bench.src")
        cur.execute("VACUUM ANALYZE bench.dst")
    con.close()


def measure(server: PostgresServer, mode: str) -> dict[str, object]:
    """One child run of the comparison in ``mode``."""
    dsn = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "password": server.password,
        "dbname": "postgres",
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps({"dsn": dsn, "mode": mode})],
        capture_output=True, text=True, cwd=REPO, check=True,
    )  # fmt: skip
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Build each size, run both modes, print one JSON line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="Table size (repeatable); default 1000000.")
    parser.add_argument("--modes", default="segments,full", help="Comma-separated modes to run.")
    args = parser.parse_args()
    server = start_postgres()
    try:
        for rows in args.rows or [1_000_000]:
            started = time.perf_counter()
            build(server, rows)
            print(json.dumps({"rows": rows, "build_seconds": round(time.perf_counter() - started, 1)}), flush=True)
            for mode in args.modes.split(","):
                found = measure(server, mode)
                assert found["differences"] == 10, found
                print(json.dumps({"rows": rows, "mode": mode, **found}), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
