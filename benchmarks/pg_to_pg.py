"""Postgres -> Postgres benchmark: dpone against the raw binary COPY pipe, on a server it starts itself.

    .venv/bin/python benchmarks/pg_to_pg.py            # 1M rows
    .venv/bin/python benchmarks/pg_to_pg.py --big      # 1M and 5M rows
    .venv/bin/python benchmarks/pg_to_pg.py --no-dlt --repeat 5
    .venv/bin/python benchmarks/pg_to_pg.py --dpone-python ~/.cache/dpone-bench/dpone-venv/bin/python

The last form runs dpone from an environment with only ``dpone[postgres]`` installed, as users
install it (``uv venv ~/.cache/dpone-bench/dpone-venv -p 3.11 && uv pip install -p
~/.cache/dpone-bench/dpone-venv/bin/python -e '.[postgres]'``). The test environment also has
pandas and polars (dev extras); importing ``pyarrow.dataset`` (the ADBC driver does) then imports
pandas, about 0.3 s of every run's start.

The server runs with Postgres defaults (fsync and synchronous_commit on). For each size it times,
in the same run and against the same 11-column table (bigint, int, bigint, numeric(18,2), 2x text,
2x timestamptz, boolean, uuid, jsonb; primary key on id):

* raw pipe: ``psql -c "COPY src TO STDOUT (FORMAT binary)" | psql -c "COPY dst FROM STDIN (FORMAT binary)"``
  into an empty table with its primary key, and the same pipe replacing the loaded table
  (``TRUNCATE`` + ``COPY`` in one transaction, ``psql -1``);
* dpone full_refresh (contract on 5 columns) into a new target, then again over the loaded target;
* merge of 100k changed rows into the loaded target: dpone ``merge`` against raw ``COPY`` into a
  temp table + ``INSERT ... ON CONFLICT DO UPDATE`` in one transaction (psql ``-1``).

* dlt as the peer: ``sql_table`` (pyarrow backend) -> postgres destination, ``replace``, with dlt's
  default loader file format, run by the Python of a separate environment (``--dlt-python``, default
  ``$DPONE_BENCH_DLT_PYTHON`` or ``~/.cache/dpone-bench/dlt-venv/bin/python``; skipped when absent).
  Set it up with ``uv venv ~/.cache/dpone-bench/dlt-venv -p 3.11 && uv pip install -p
  ~/.cache/dpone-bench/dlt-venv/bin/python "dlt[postgres,sql_database]" pyarrow``.

Each measured command is a child process; its peak RSS is the largest VmHWM of its processes
(the child and its descendants: a pipe's two psql, dpone and its COPY relay), sampled while they
run (``peak_rss.py``), not ``wait4``'s figure, which starts from this script's own size. dpone's
own step timings (from its JSON report) are printed as each run finishes. Every measurement runs
``--repeat`` times (default 3; dlt once) and the table shows the median and the range. Before each
repetition the database is vacuumed and checkpointed outside the timing, so no measurement shares
the two cores with autovacuum of the table the previous one wrote, or with the checkpoint its WAL
set off; each merge repetition starts from the same unchanged table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration" / "postgres"))
from peak_rss import wait_peak  # noqa: E402
from pgserver import PostgresServer, start_server  # noqa: E402

COLUMNS = """id bigint PRIMARY KEY, a int NOT NULL, b bigint, amount numeric(18,2) NOT NULL, name text NOT NULL,
  descr text, created_at timestamptz NOT NULL, updated_at timestamptz, flag boolean, uid uuid, payload jsonb"""
CHANGED = 100_000
# The 5-column contract every Postgres benchmark loads with (pg_to_pg_ab.py, pg_to_duckdb.py too).
CONTRACT = {
    "enforcement": "strict",
    "columns": {
        "id": {"type": "int64", "nullable": False},
        "amount": {"type": "decimal", "precision": 18, "scale": 2, "min": 0},
        "name": {"type": "string", "nullable": False},
        "created_at": {"type": "timestamp", "tz": "UTC", "nullable": False},
        "flag": {"type": "boolean"},
    },
}
DLT_PYTHON = Path(os.environ.get("DPONE_BENCH_DLT_PYTHON", Path.home() / ".cache/dpone-bench/dlt-venv/bin/python"))
DLT_SCRIPT = """
import sys, dlt
from dlt.sources.sql_database import sql_table
url = sys.argv[1]
source = url.replace("postgresql://", "postgresql+psycopg2://")
table = sql_table(credentials=source, schema="public", table="src", backend="pyarrow")
pipeline = dlt.pipeline(
    pipeline_name="dpone_bench", destination=dlt.destinations.postgres(credentials=url),
    dataset_name="dlt_bench", pipelines_dir=sys.argv[2],
)
info = pipeline.run(table, write_disposition="replace")
info.raise_on_failed_jobs()
"""


def _env(server: PostgresServer, db: str) -> dict[str, str]:
    # An installed package has its .pyc files; without them every dpone start recompiles its imports.
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **base,
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGUSER": server.user,
        "PGPASSWORD": server.password,
        "PGDATABASE": db,
        "DPONE_BENCH_PG_PASSWORD": server.password,
    }


def psql(server: PostgresServer, db: str, sql: str) -> str:
    """Run SQL through psql and return its output."""
    result = subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        env=_env(server, db),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def timed(commands: list[list[str]], env: dict[str, str], output: Path | None = None) -> tuple[float, float]:
    """Run a pipeline of commands (stdout -> stdin); return (seconds, peak RSS in MB of the largest process).

    The last command's stdout goes to ``output`` when given (discarded otherwise).
    """
    start = time.perf_counter()
    procs: list[subprocess.Popen[bytes]] = []
    previous = None
    sink = open(output, "wb") if output else subprocess.DEVNULL  # noqa: SIM115
    for index, command in enumerate(commands):
        last = index == len(commands) - 1
        proc = subprocess.Popen(
            command,
            env=env,
            stdin=previous.stdout if previous is not None else None,
            stdout=sink if last else subprocess.PIPE,
        )
        if isinstance(previous, subprocess.Popen) and previous.stdout is not None:
            previous.stdout.close()
        procs.append(proc)
        previous = proc
    peak = wait_peak(procs)
    failed = [(proc.args, proc.returncode) for proc in procs if proc.returncode]
    if output:
        sink.close()  # type: ignore[union-attr]
    if failed:
        raise RuntimeError(f"benchmark command failed: {failed}")
    return time.perf_counter() - start, peak


def create_source(server: PostgresServer, db: str, rows: int) -> None:
    """The benchmark's 11-column ``src`` table with ``rows`` generated rows."""
    print(f"generating {rows:,} rows ...", flush=True)
    psql(server, db, f"CREATE TABLE src ({COLUMNS})")
    psql(
        server,
        db,
        f"""INSERT INTO src SELECT g, g % 1000, g * 7, (g % 100000) / 100.0, 'name ' || g,
        md5(g::text) || ' ,"quoted"', '2026-01-01'::timestamptz - g * interval '1 second', now(), g % 2 = 0,
        md5(g::text)::uuid, jsonb_build_object('k', g, 'v', 'x') FROM generate_series(1, {rows}) g""",
    )


def pg_profile(server: PostgresServer, db: str) -> dict[str, Any]:
    """The manifest connection of the benchmark database (the password from the environment)."""
    return {
        "type": "postgres",
        "host": server.host,
        "port": server.port,
        "database": db,
        "user": server.user,
        "password": "${env:DPONE_BENCH_PG_PASSWORD}",
    }


def manifest(folder: Path, server: PostgresServer, db: str, name: str, process: dict[str, Any]) -> Path:
    """Write a one-process manifest for the benchmark database."""
    doc = {
        "version": 1,
        "connections": {"pg": pg_profile(server, db)},
        "processes": [process],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


DPONE_PYTHON = [sys.executable]
"""The interpreter that runs dpone (``--dpone-python``); a list so main() can point it elsewhere."""


def dpone_manifests(folder: Path, server: PostgresServer, db: str) -> tuple[Path, Path]:
    """The two loads the Postgres benchmarks run: full_refresh of ``src``, merge of ``changes``."""
    full = manifest(
        folder,
        server,
        db,
        "full",
        {
            "name": "full",
            "source": {"connection": "pg", "table": "public.src"},
            "sink": {"connection": "pg", "table": "public.dst", "strategy": "full_refresh", "primary_key": ["id"]},
            "schema_contract": CONTRACT,
        },
    )
    merge = manifest(
        folder,
        server,
        db,
        "merge",
        {
            "name": "merge",
            "source": {"connection": "pg", "table": "public.changes"},
            "sink": {"connection": "pg", "table": "public.dst", "strategy": "merge", "primary_key": ["id"]},
        },
    )
    return full, merge


def raw_upsert(folder: Path) -> list[list[str]]:
    """The raw merge: ``changes`` COPYed into a temp table and upserted into ``dst_raw``, one transaction."""
    sets = ", ".join(
        f"{c} = EXCLUDED.{c}"
        for c in ("a", "b", "amount", "name", "descr", "created_at", "updated_at", "flag", "uid", "payload")
    )
    script = folder / "merge.sql"
    script.write_text(
        "CREATE TEMP TABLE tmp (LIKE dst_raw) ON COMMIT DROP;\n"
        "\\copy tmp FROM pstdin WITH (FORMAT binary)\n"
        f"INSERT INTO dst_raw SELECT * FROM tmp ON CONFLICT (id) DO UPDATE SET {sets};\n"
    )
    return [
        ["psql", "-c", "COPY changes TO STDOUT (FORMAT binary)"],
        ["psql", "-v", "ON_ERROR_STOP=1", "-1", "-q", "-f", str(script)],
    ]


def dpone(path: Path, env: dict[str, str]) -> tuple[float, float]:
    """Time ``dpone run`` in a child process (exit code must be 0); print its step timings."""
    report = path.with_suffix(".json")
    command = [DPONE_PYTHON[0], "-m", "dpone_core.cli.main", "run", str(path), "--format", "json"]
    result = timed([command], env, report)
    steps = _find(json.loads(report.read_text()), "step_seconds") or {}
    print(f"  {path.stem}: " + ", ".join(f"{k} {v:.2f}s" for k, v in steps.items()), flush=True)
    return result


def _find(doc: Any, key: str) -> Any:
    """The first value of ``key`` anywhere in a JSON document."""
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        doc = list(doc.values())
    if isinstance(doc, list):
        for item in doc:
            found = _find(item, key)
            if found is not None:
                return found
    return None


RAW_REPLACE = "raw TRUNCATE + COPY pipe (loaded table, one tx)"
COLUMN_NAMES = "id, a, b, amount, name, descr, created_at, updated_at, flag, uid, payload"


def settle(server: PostgresServer, db: str) -> None:
    """Leave the server quiet before a measurement: nothing for autovacuum to do, no checkpoint pending.

    Without this, a measurement can share the two cores with autovacuum of the table the previous one
    wrote, or with the checkpoint its WAL triggered, whichever path happens to come second.
    """
    psql(server, db, "VACUUM ANALYZE")
    psql(server, db, "CHECKPOINT")


def repeated(
    repeat: int, prepare: Callable[[], None], measure: Callable[[], tuple[float, float]]
) -> tuple[list[float], float]:
    """Run ``prepare`` (untimed, then settle) and ``measure`` ``repeat`` times; (all seconds, peak RSS)."""
    times, peak = [], 0.0
    for _ in range(repeat):
        prepare()
        seconds, rss = measure()
        times.append(seconds)
        peak = max(peak, rss)
    return times, peak


def bench(
    server: PostgresServer, rows: int, folder: Path, dlt_python: Path | None, repeat: int
) -> list[tuple[str, int, list[float], float]]:
    """All measurements for one table size; returns (name, rows, seconds of each repetition, peak RSS MB)."""
    db = f"bench_{rows}"
    psql(server, "postgres", f"DROP DATABASE IF EXISTS {db}")
    psql(server, "postgres", f"CREATE DATABASE {db}")
    env = _env(server, db)
    changed = min(CHANGED, max(rows // 10, 1))  # 100k, fewer for a small --rows trial
    create_source(server, db, rows)
    psql(server, db, f"CREATE TABLE changes AS SELECT * FROM src WHERE id % {rows // changed} = 0")
    psql(server, db, "UPDATE changes SET amount = amount + 1, name = name || ' v2', updated_at = now()")
    psql(server, db, f"CREATE TABLE dst_raw ({COLUMNS})")
    results = []

    def fresh_raw() -> None:
        psql(server, db, "TRUNCATE dst_raw")
        settle(server, db)

    raw_pipe = [
        ["psql", "-c", "COPY src TO STDOUT (FORMAT binary)"],
        ["psql", "-c", "COPY dst_raw FROM STDIN (FORMAT binary)"],
    ]
    times, rss = repeated(repeat, fresh_raw, lambda: timed(raw_pipe, env))
    results.append(("raw COPY binary pipe", rows, times, rss))
    # The same pipe replacing the loaded table in one transaction: what "over the loaded target"
    # costs Postgres itself (the raw pipe above writes into an empty table).
    raw_replace = [
        raw_pipe[0],
        ["psql", "-1", "-c", "TRUNCATE dst_raw", "-c", "COPY dst_raw FROM STDIN (FORMAT binary)"],
    ]
    times, rss = repeated(repeat, lambda: settle(server, db), lambda: timed(raw_replace, env))
    results.append((RAW_REPLACE, rows, times, rss))

    if dlt_python is not None:
        # dlt takes ~35 s per million rows here: one run is enough to place it.
        script = folder / "dlt_peer.py"
        script.write_text(DLT_SCRIPT)
        url = f"postgresql://{server.user}:{server.password}@{server.host}:{server.port}/{db}"
        dlt_env = {**env, "RUNTIME__DLTHUB_TELEMETRY": "false"}
        command = [[str(dlt_python), str(script), url, str(folder / f"dlt-{rows}")]]
        times, rss = repeated(1, lambda: settle(server, db), lambda: timed(command, dlt_env))
        got = int(psql(server, db, "SELECT count(*) FROM dlt_bench.src"))
        assert got == rows, f"dlt loaded {got} of {rows} rows"
        results.append(("dlt sql_table pyarrow -> postgres (peer)", rows, times, rss))
        psql(server, db, "DROP SCHEMA dlt_bench CASCADE")

    full, merge = dpone_manifests(folder, server, db)

    def no_target() -> None:
        psql(server, db, "DROP TABLE IF EXISTS dst")
        settle(server, db)

    times, rss = repeated(repeat, no_target, lambda: dpone(full, env))
    results.append(("dpone full_refresh (new target, 5-col contract)", rows, times, rss))
    times, rss = repeated(repeat, lambda: settle(server, db), lambda: dpone(full, env))
    results.append(("dpone full_refresh (over loaded target)", rows, times, rss))

    upsert = raw_upsert(folder)

    def reset(table: str) -> Callable[[], None]:
        # Every merge repetition starts from the unchanged 1M rows, so each one really changes 100k.
        def prepare() -> None:
            psql(server, db, f"TRUNCATE {table}; INSERT INTO {table} ({COLUMN_NAMES}) SELECT {COLUMN_NAMES} FROM src")
            settle(server, db)

        return prepare

    times, rss = repeated(repeat, reset("dst_raw"), lambda: timed(upsert, env))
    results.append(("raw COPY + INSERT ON CONFLICT (100k into table)", changed, times, rss))
    times, rss = repeated(repeat, reset("dst"), lambda: dpone(merge, env))
    results.append(("dpone merge (100k changed into table)", changed, times, rss))
    check = psql(
        server,
        db,
        "SELECT count(*) FROM dst d JOIN dst_raw r USING (id) WHERE d.name = r.name "
        "AND d.amount = r.amount AND d.payload = r.payload AND d.created_at = r.created_at",
    )
    assert int(check) == rows, f"dpone and the raw path disagree: {check} of {rows} rows match"
    psql(server, "postgres", f"DROP DATABASE {db}")
    return results


def main() -> None:
    """Parse flags, start the server, run the sizes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", action="store_true", help="also run 5M rows")
    parser.add_argument("--dlt-python", type=Path, default=DLT_PYTHON, help="Python of an env with dlt installed")
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt peer")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is reported")
    parser.add_argument(
        "--dpone-python",
        type=Path,
        default=Path(sys.executable),
        help="Python that runs dpone (e.g. a venv with only dpone[postgres], as users install it)",
    )
    args = parser.parse_args()
    DPONE_PYTHON[0] = str(args.dpone_python)
    dlt_python = None if args.no_dlt or not args.dlt_python.exists() else args.dlt_python
    if dlt_python is None and not args.no_dlt:
        print(f"dlt peer skipped: no Python at {args.dlt_python} (see the module docstring)")
    sizes = [args.rows] + ([5_000_000] if args.big else [])
    server = start_server(prefix="dpone-bench-")
    folder = server.root / "manifests"
    folder.mkdir()
    # Warm the page cache for both interpreters' imports (the raw path's psql is warm after one run).
    warm = "import dpone_core.api, dpone_core.runtime.attempt, dpone_core.connectors.postgres.sink, pyarrow.dataset"
    subprocess.run([DPONE_PYTHON[0], "-c", warm], env=_env(server, "postgres"), check=True)
    try:
        print(
            f"postgres {psql(server, 'postgres', 'SHOW server_version')} on 127.0.0.1:{server.port}, "
            f"fsync={psql(server, 'postgres', 'SHOW fsync')}, "
            f"synchronous_commit={psql(server, 'postgres', 'SHOW synchronous_commit')}, {os.cpu_count()} cores"
        )
        peaks: dict[int, float] = {}
        for rows in sizes:
            results = bench(server, rows, folder, dlt_python, args.repeat)
            peaks[rows] = max(rss for name, _, _, rss in results if name.startswith("dpone"))
            base = {n: r / median(times) for n, r, times, _ in results}
            raw = base["raw COPY binary pipe"]
            upsert = base["raw COPY + INSERT ON CONFLICT (100k into table)"]
            print(f"\n{rows:,} rows, median of {args.repeat} (dlt: 1 run); ratios compare medians")
            print(
                f"{'measurement':50} {'rows':>10} {'seconds':>8} {'(min-max)':>11} {'rows/s':>10} "
                f"{'vs raw':>7} {'peak RSS':>9}"
            )
            for name, n, times, rss in results:
                rate = n / median(times)
                ref = upsert if "100k" in name else raw
                spread = f"{min(times):.2f}-{max(times):.2f}"
                print(
                    f"{name:50} {n:>10,} {median(times):8.2f} {spread:>11} {rate:10,.0f} {rate / ref:7.2f} {rss:7.0f}MB"
                )
            print("(merge rows are compared with the raw upsert, the rest with the raw pipe)")
            loaded = base["dpone full_refresh (over loaded target)"]
            print(f"dpone full_refresh over the loaded target is {loaded / base[RAW_REPLACE]:.2f} of the raw replace")
            if "dlt sql_table pyarrow -> postgres (peer)" in base:
                peer = base["dlt sql_table pyarrow -> postgres (peer)"]
                new = base["dpone full_refresh (new target, 5-col contract)"]
                print(f"dpone full_refresh (new target) is {new / peer:.1f}x dlt")
        if len(peaks) > 1:
            first, last = min(peaks), max(peaks)
            print(f"dpone peak RSS {last:,} rows vs {first:,} rows: {peaks[last] / peaks[first]:.2f}x")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
