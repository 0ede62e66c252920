"""Replacing a loaded Postgres table: TRUNCATE + COPY in one transaction against build-and-swap.

    .venv/bin/python benchmarks/pg_truncate_vs_swap.py [--rows 1000000]

Starts its own Postgres (as ``pg_to_pg.py`` does), loads the 11-column benchmark table into a
target with its primary key and a secondary index, then replaces its rows from a binary COPY file:

* truncate: ``BEGIN; LOCK ... ACCESS EXCLUSIVE; TRUNCATE; COPY ... FROM STDIN (FORMAT binary); COMMIT``
  (what dpone's direct full_refresh does; the lock is held from TRUNCATE to commit);
* swap: ``CREATE TABLE new (LIKE target INCLUDING ALL)``, COPY into it (no lock on the target),
  then one short transaction renames target -> old and new -> target, and drops old.

Prints each path's total seconds and how long it holds ACCESS EXCLUSIVE on the target.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_to_pg import COLUMNS, _env, psql
from pgserver import start_server


def _psql_file(env: dict[str, str], script: str) -> float:
    """Run ``script`` (one statement or meta-command a line) as one transaction; return its seconds."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
        file.write(script.replace("; ", ";\n") + "\n")
        file.flush()
        start = time.perf_counter()
        subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-1", "-f", file.name], env=env, check=True)
        return time.perf_counter() - start


def main() -> None:
    """Generate, load once, then time both replacement paths (best of three each)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    server = start_server(prefix="dpone-swap-")
    try:
        psql(server, "postgres", "CREATE DATABASE swap")
        env = _env(server, "swap")
        psql(server, "swap", f"CREATE TABLE dst ({COLUMNS}); CREATE INDEX dst_name ON dst (name)")
        psql(
            server,
            "swap",
            f"""INSERT INTO dst SELECT g, g % 1000, g * 7, (g % 100000) / 100.0, 'name ' || g,
            md5(g::text) || ' ,"quoted"', '2026-01-01'::timestamptz - g * interval '1 second', now(), g % 2 = 0,
            md5(g::text)::uuid, jsonb_build_object('k', g, 'v', 'x') FROM generate_series(1, {rows}) g""",
        )
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "rows.bin"
            psql(server, "swap", f"\\copy dst TO '{data}' (FORMAT binary)")
            psql(server, "swap", "VACUUM ANALYZE dst")
            for attempt in range(3):
                truncate = _psql_file(
                    env,
                    f"LOCK TABLE dst IN ACCESS EXCLUSIVE MODE; TRUNCATE dst; \\copy dst FROM '{data}' (FORMAT binary)",
                )
                start = time.perf_counter()
                psql(server, "swap", "DROP TABLE IF EXISTS dst_new; CREATE TABLE dst_new (LIKE dst INCLUDING ALL)")
                psql(server, "swap", f"\\copy dst_new FROM '{data}' (FORMAT binary)")
                swap = _psql_file(
                    env,
                    "LOCK TABLE dst IN ACCESS EXCLUSIVE MODE; ALTER TABLE dst RENAME TO dst_old; "
                    "ALTER TABLE dst_new RENAME TO dst; DROP TABLE dst_old",
                )
                total = time.perf_counter() - start
                print(
                    f"{rows:,} rows, try {attempt + 1}: truncate+COPY {truncate:.2f} s "
                    f"(ACCESS EXCLUSIVE {truncate:.2f} s); "
                    f"build-and-swap {total:.2f} s (ACCESS EXCLUSIVE {swap:.3f} s for rename + drop)",
                    flush=True,
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
