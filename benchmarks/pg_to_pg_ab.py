"""Postgres -> Postgres, two dpone checkouts against each other and the raw paths, interleaved in one sitting.

    git archive main | tar -x -C /tmp/before      # the code before, as files
    .venv/bin/python benchmarks/pg_to_pg_ab.py before=/tmp/before,after=. --repeat 5
    .venv/bin/python benchmarks/pg_to_pg_ab.py before=/tmp/before,after=. --rows 5000000 --modes full --repeat 2

On a machine shared with other work, one ``pg_to_pg.py`` sitting can swing by a factor of two
between its measurement groups. Here every repetition runs the raw path and then each checkout
in turn (full_refresh into a new target, over the loaded target, merge of 100k changed rows), so
a burst of load hits all of them alike; the table shows medians, the ratio to the raw path and
dpone's own stage + finalize seconds. Each checkout runs with this script's interpreter from its
own directory (``python -m`` puts the working directory first on ``sys.path``, ahead of the
editable install). The table, data and manifests are ``pg_to_pg.py``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_to_pg import COLUMN_NAMES, COLUMNS, _env, _find, dpone, dpone_manifests, psql, raw_upsert, settle, timed
from pgserver import PostgresServer, start_server


class Sitting:
    """One server and database with the benchmark's tables; records every measurement by name."""

    def __init__(self, server: PostgresServer, rows: int) -> None:
        self.server, self.db, self.env = server, "bench", _env(server, "bench")
        self.times: dict[str, list[float]] = {}
        self.peaks: dict[str, float] = {}
        psql(server, "postgres", f"CREATE DATABASE {self.db}")
        self.sql(f"CREATE TABLE src ({COLUMNS})")
        self.sql(
            f"""INSERT INTO src SELECT g, g % 1000, g * 7, (g % 100000) / 100.0, 'name ' || g,
            md5(g::text) || ' ,"quoted"', '2026-01-01'::timestamptz - g * interval '1 second', now(), g % 2 = 0,
            md5(g::text)::uuid, jsonb_build_object('k', g, 'v', 'x') FROM generate_series(1, {rows}) g"""
        )
        self.sql(f"CREATE TABLE changes AS SELECT * FROM src WHERE id % {max(rows // 100_000, 1)} = 0")
        self.sql("UPDATE changes SET amount = amount + 1, name = name || ' v2', updated_at = now()")
        self.sql(f"CREATE TABLE dst_raw ({COLUMNS}); CREATE TABLE dst ({COLUMNS})")

    def sql(self, statement: str) -> None:
        """Run SQL in the benchmark database."""
        psql(self.server, self.db, statement)

    def record(self, name: str, seconds: float, peak: float = 0.0) -> None:
        """Keep one measurement."""
        self.times.setdefault(name, []).append(seconds)
        self.peaks[name] = max(self.peaks.get(name, 0.0), peak)

    def run(self, name: str, checkout: Path, path: Path) -> None:
        """``dpone run`` of ``path`` from ``checkout``; records its time and its stage + finalize seconds."""
        os.chdir(checkout)
        self.record(name, *dpone(path, self.env))
        steps = _find(json.loads(path.with_suffix(".json").read_text()), "step_seconds") or {}
        self.record(f"{name} [stage+finalize]", steps.get("stage", 0.0) + steps.get("finalize", 0.0))

    def fresh(self, table: str) -> None:
        """``table`` holds src's rows again, and the server is quiet."""
        self.sql(f"TRUNCATE {table}; INSERT INTO {table} ({COLUMN_NAMES}) SELECT {COLUMN_NAMES} FROM src")
        settle(self.server, self.db)


def repetition(sitting: Sitting, checkouts: dict[str, Path], modes: list[str], folder: Path) -> None:
    """One round: each mode's raw path, then each checkout."""
    server, db = sitting.server, sitting.db
    full, merge = dpone_manifests(folder, server, db)
    out = ["psql", "-c", "COPY src TO STDOUT (FORMAT binary)"]
    if "full" in modes:
        sitting.sql("TRUNCATE dst_raw")
        settle(server, db)
        sitting.record(
            "raw pipe", *timed([out, ["psql", "-c", "COPY dst_raw FROM STDIN (FORMAT binary)"]], sitting.env)
        )
        for name, checkout in checkouts.items():
            sitting.sql("DROP TABLE IF EXISTS dst")
            settle(server, db)
            sitting.run(f"full new {name}", checkout, full)
        settle(server, db)
        replace = ["psql", "-1", "-c", "TRUNCATE dst_raw", "-c", "COPY dst_raw FROM STDIN (FORMAT binary)"]
        sitting.record("raw replace", *timed([out, replace], sitting.env))
        for name, checkout in checkouts.items():
            settle(server, db)
            sitting.run(f"full loaded {name}", checkout, full)
    if "merge" in modes:
        sitting.sql(f"DROP TABLE IF EXISTS dst; CREATE TABLE dst ({COLUMNS})")
        sitting.fresh("dst_raw")
        upsert = raw_upsert(folder)
        sitting.record("raw upsert", *timed(upsert, sitting.env))
        for name, checkout in checkouts.items():
            sitting.fresh("dst")
            sitting.run(f"merge {name}", checkout, merge)


def report(sitting: Sitting, rows: int, repeat: int) -> None:
    """Medians, ranges and ratios to the raw path of the same mode."""
    print(f"\n{rows:,} rows, {repeat} interleaved repetitions; vs raw = raw median / this median")
    for name, times in sitting.times.items():
        spread = f"{median(times):6.2f}s  ({min(times):.2f}-{max(times):.2f})"
        if name.endswith("]"):
            print(f"  {name:36} {spread}")
            continue
        raw = "raw upsert" if name.startswith(("merge", "raw upsert")) else "raw pipe"
        raw = "raw replace" if name.startswith(("full loaded", "raw replace")) else raw
        ratio = median(sitting.times[raw]) / median(times)
        print(f"{name:38} {spread}  vs raw {ratio:5.2f}  peak {sitting.peaks[name]:5.0f}MB")


def main() -> None:
    """Parse the checkouts and flags, start the server, run the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", help="name=directory,name=directory (each a copy of the repository)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--modes", default="full,merge", help="full, merge or both")
    args = parser.parse_args()
    checkouts = {name: Path(folder).resolve() for name, folder in (c.split("=", 1) for c in args.checkouts.split(","))}
    server = start_server(prefix="dpone-bench-ab-")
    try:
        sitting = Sitting(server, args.rows)
        folder = server.root / "manifests"
        folder.mkdir()
        for _ in range(args.repeat):
            repetition(sitting, checkouts, args.modes.split(","), folder)
        report(sitting, args.rows, args.repeat)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
