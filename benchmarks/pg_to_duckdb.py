"""Postgres -> DuckDB benchmark: dpone full_refresh against DuckDB's own postgres scanner (or a COPY pipe).

    .venv/bin/python benchmarks/pg_to_duckdb.py                    # 1M rows, 3 interleaved repetitions
    .venv/bin/python benchmarks/pg_to_duckdb.py --big --repeat 5   # 1M and 5M rows
    .venv/bin/python benchmarks/pg_to_duckdb.py --scanner-python ~/.cache/dpone-bench/duckdb-pg/bin/python

On a Postgres server it starts itself, against the 11-column table of ``pg_to_pg.py`` (primary key on
id), it times, interleaved in the same sitting, each as a whole child process (interpreter start,
connections and the final checkpoint included):

* raw: DuckDB's postgres extension, ``ATTACH '...' AS pg (TYPE postgres, READ_ONLY)`` then
  ``INSERT INTO t SELECT * FROM pg.public.src`` into a new table with the same primary key, run by
  ``--scanner-python``: a Python whose duckdb loads the extension. DuckDB extensions are built for
  one DuckDB version, and the package index carries the extension for DuckDB 1.5.5 only
  (``duckdb-extension-postgres==1.5.5``, which requires ``duckdb==1.5.5``): set one up with
  ``uv venv ~/.cache/dpone-bench/duckdb-pg -p 3.11 && uv pip install -p
  ~/.cache/dpone-bench/duckdb-pg/bin/python duckdb==1.5.5 duckdb-extension-postgres==1.5.5``.
  Without one, the raw path is ``psql -c "COPY src TO STDOUT (FORMAT csv)"`` piped into DuckDB's
  ``read_csv`` of stdin (typed columns), in dpone's own interpreter.
* dpone: ``dpone run`` of a full_refresh with a 5-column contract into a new table (its file removed
  before each repetition), the same read as two ctid ranges (``source.options.parallel_reads: 2``;
  the default on two cores is one COPY), then again over the loaded table.

It prints seconds, rows/s, the dpone/raw ratio (rows/s over rows/s of the medians) and the peak RSS
(largest VmHWM of the measured process tree, ``peak_rss.py``); ``--results FILE`` writes them in the
format of ``results.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import yaml
from pg_to_pg import CONTRACT, _env, _find, create_source, pg_profile, psql, settle, timed
from results import CaseResult, write_results

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration" / "postgres"))
from pgserver import PostgresServer, start_server  # noqa: E402

SCANNER_PYTHON = Path(
    os.environ.get("DPONE_BENCH_SCANNER_PYTHON", Path.home() / ".cache/dpone-bench/duckdb-pg/bin/python")
)
DUCK_DDL = (
    "CREATE TABLE t (id BIGINT PRIMARY KEY, a INTEGER NOT NULL, b BIGINT, amount DECIMAL(18,2) NOT NULL, "
    "name VARCHAR NOT NULL, descr VARCHAR, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ, "
    "flag BOOLEAN, uid UUID, payload VARCHAR)"
)
SCANNER = """
import glob, os, shutil, sys, tempfile, duckdb
import duckdb_extension_postgres as package
db, dsn, ddl = sys.argv[1], sys.argv[2], sys.argv[3]
# The package ships the binary as postgres.duckdb_extension; DuckDB derives the entry point from the
# file name, which must be the extension's own (postgres_scanner).
built = glob.glob(os.path.join(os.path.dirname(package.__file__), "extensions", "*", "*.duckdb_extension"))[0]
folder = tempfile.mkdtemp()
extension = shutil.copy(built, os.path.join(folder, "postgres_scanner.duckdb_extension"))
con = duckdb.connect(db)
con.execute(f"LOAD '{extension}'")
con.execute(f"ATTACH '{dsn}' AS pg (TYPE postgres, READ_ONLY)")
con.execute(ddl)
con.execute("INSERT INTO t SELECT * FROM pg.public.src")
con.close()
shutil.rmtree(folder)
"""
CSV_READER = """
import sys, duckdb
db, ddl = sys.argv[1], sys.argv[2]
con = duckdb.connect(db)
con.execute(ddl)
types = {"id": "BIGINT", "a": "INTEGER", "b": "BIGINT", "amount": "DECIMAL(18,2)", "name": "VARCHAR",
         "descr": "VARCHAR", "created_at": "TIMESTAMPTZ", "updated_at": "TIMESTAMPTZ", "flag": "BOOLEAN",
         "uid": "UUID", "payload": "VARCHAR"}
con.execute(f"INSERT INTO t SELECT * FROM read_csv('/dev/stdin', header=false, columns={types!r})")
con.close()
"""
DPONE_PYTHON = [sys.executable]
RAW, NEW, RANGES, LOADED = "raw", "dpone new target", "dpone new target, 2 ranges", "dpone over loaded target"


def manifest(folder: Path, server: PostgresServer, db: str, target: Path, parallel_reads: int | None) -> Path:
    """A one-process manifest: ``public.src`` -> ``t`` of the DuckDB file ``target``, full_refresh."""
    source: dict[str, Any] = {"connection": "pg", "table": "public.src"}
    if parallel_reads is not None:
        source["options"] = {"parallel_reads": parallel_reads}
    doc = {
        "version": 1,
        "connections": {
            "pg": pg_profile(server, db),
            "wh": {"type": "duckdb", "path": str(target)},
        },
        "processes": [
            {
                "name": "full",
                "source": source,
                "sink": {"connection": "wh", "table": "t", "strategy": "full_refresh", "primary_key": ["id"]},
                "schema_contract": CONTRACT,
            }
        ],
    }
    path = folder / f"pg_to_duckdb_{parallel_reads or 'auto'}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


RUN_SECONDS: dict[str, list[float]] = {}
"""dpone's own ``duration_seconds`` of each run (no interpreter start or imports), by measurement name."""


def dpone(path: Path, env: dict[str, str], name: str) -> tuple[float, float]:
    """Time ``dpone run`` in a child process (exit code 0); print its step timings and write path."""
    report = path.with_suffix(".json")
    command = [DPONE_PYTHON[0], "-m", "dpone_core.cli.main", "run", str(path), "--format", "json"]
    result = timed([command], env, report)
    doc = json.loads(report.read_text())
    steps = _find(doc, "step_seconds") or {}
    RUN_SECONDS.setdefault(name, []).append(float(_find(doc, "duration_seconds")))
    print(f"  {name} ({_find(doc, 'write_path')}): " + ", ".join(f"{k} {v:.2f}s" for k, v in steps.items()), flush=True)
    return result


def duck_count(path: Path) -> int:
    """Rows of ``t`` in the DuckDB file (read in this process, outside the timing)."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM t").fetchone()
    return int(row[0]) if row else -1


def remove(path: Path) -> None:
    """Delete a DuckDB file and its WAL and staging folder."""
    for extra in ("", ".wal"):
        Path(str(path) + extra).unlink(missing_ok=True)


def raw_command(server: PostgresServer, db: str, target: Path, scanner: Path | None) -> list[list[str]]:
    """The raw path's process pipeline (the extension's ATTACH, or psql's CSV into read_csv)."""
    if scanner is not None:
        dsn = f"host={server.host} port={server.port} user={server.user} password={server.password} dbname={db}"
        return [[str(scanner), "-c", SCANNER, str(target), dsn, DUCK_DDL]]
    return [
        ["psql", "-c", "COPY src TO STDOUT (FORMAT csv)"],
        [DPONE_PYTHON[0], "-c", CSV_READER, str(target), DUCK_DDL],
    ]


def bench(
    server: PostgresServer, rows: int, folder: Path, scanner: Path | None, repeat: int
) -> list[tuple[str, list[float], float]]:
    """Interleaved raw and dpone repetitions for one size: (name, seconds of each, peak RSS MB)."""
    db = f"bench_duck_{rows}"
    psql(server, "postgres", f"DROP DATABASE IF EXISTS {db}")
    psql(server, "postgres", f"CREATE DATABASE {db}")
    env = _env(server, db)
    create_source(server, db, rows)
    raw_db, ours_db = folder / f"raw_{rows}.duckdb", folder / f"dpone_{rows}.duckdb"
    path = manifest(folder, server, db, ours_db, None)
    ranges = manifest(folder, server, db, ours_db, 2)
    runs: dict[str, tuple[list[float], float]] = {}

    def measure(name: str, prepare: Callable[[], None], run: Callable[[], tuple[float, float]], target: Path) -> None:
        prepare()
        settle(server, db)
        seconds, rss = run()
        got = duck_count(target)
        assert got == rows, f"{name} loaded {got} of {rows} rows"
        times, peak = runs.get(name, ([], 0.0))
        runs[name] = ([*times, seconds], max(peak, rss))

    raw = raw_command(server, db, raw_db, scanner)
    for _ in range(repeat):
        measure(RAW, lambda: remove(raw_db), lambda: timed(raw, env), raw_db)
        measure(NEW, lambda: remove(ours_db), lambda: dpone(path, env, NEW), ours_db)
        measure(RANGES, lambda: remove(ours_db), lambda: dpone(ranges, env, RANGES), ours_db)
        measure(LOADED, lambda: None, lambda: dpone(path, env, LOADED), ours_db)
    psql(server, "postgres", f"DROP DATABASE {db}")
    return [(name, times, peak) for name, (times, peak) in runs.items()]


def report(rows: int, results: list[tuple[str, list[float], float]], raw_name: str) -> list[CaseResult]:
    """Print one size's table; the cases for the results file.

    ``vs raw`` compares whole processes; ``run vs raw`` takes dpone's own run time (its report's
    ``duration_seconds``: connections included, interpreter start and imports not).
    """
    raw = rows / median(results[0][1])
    print(f"\n{rows:,} rows, medians of {len(results[0][1])} interleaved runs; raw = {raw_name}")
    print(
        f"{'measurement':28} {'seconds':>8} {'(min-max)':>11} {'rows/s':>10} {'vs raw':>7} "
        f"{'run s':>6} {'run vs raw':>10} {'peak RSS':>9}"
    )
    cases = []
    for name, times, rss in results:
        rate = rows / median(times)
        spread = f"{min(times):.2f}-{max(times):.2f}"
        own = RUN_SECONDS.get(name)
        run = f"{median(own):6.2f} {rows / median(own) / raw:10.2f}" if own else f"{'':6} {'':10}"
        print(f"{name:28} {median(times):8.2f} {spread:>11} {rate:10,.0f} {rate / raw:7.2f} {run} {rss:7.0f}MB")
        case = "pg_to_duckdb__" + name.replace(" ", "_").replace(",", "")
        cases.append(CaseResult(f"{case}@{rows}", rows, median(times), round(rate / raw, 3), round(rss, 1)))
    return cases


def main() -> None:
    """Parse flags, start the server, run the sizes, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", action="store_true", help="also run 5M rows")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of each path; medians reported")
    parser.add_argument("--scanner-python", type=Path, default=SCANNER_PYTHON, help="Python with the extension")
    parser.add_argument("--dpone-python", type=Path, default=Path(sys.executable), help="Python that runs dpone")
    parser.add_argument("--results", type=Path, default=None, help="write the figures as a results file")
    args = parser.parse_args()
    DPONE_PYTHON[0] = str(args.dpone_python)
    scanner: Path | None = args.scanner_python if args.scanner_python.exists() else None
    raw_name = "DuckDB postgres extension (ATTACH)" if scanner else "psql COPY csv | DuckDB read_csv(stdin)"
    if scanner is None:
        print(f"no Python at {args.scanner_python} (see the module docstring): the raw path is {raw_name}")
    else:
        version = subprocess.run([str(scanner), "-c", "import duckdb; print(duckdb.__version__)"], text=True,
                                 capture_output=True, check=True).stdout.strip()  # fmt: skip
        raw_name += f", duckdb {version}"
    server = start_server(prefix="dpone-bench-")
    folder = server.root / "manifests"
    folder.mkdir()
    subprocess.run([DPONE_PYTHON[0], "-c", "import dpone_core.api"], check=True)  # warm the page cache
    cases: list[CaseResult] = []
    peaks: dict[int, float] = {}
    try:
        for rows in [args.rows] + ([5_000_000] if args.big else []):
            RUN_SECONDS.clear()
            results = bench(server, rows, folder, scanner, args.repeat)
            cases += report(rows, results, raw_name)
            peaks[rows] = max(rss for name, _, rss in results if name.startswith("dpone"))
        if len(peaks) > 1:
            first, last = min(peaks), max(peaks)
            print(f"dpone peak RSS {last:,} rows vs {first:,} rows: {peaks[last] / peaks[first]:.2f}x")
    finally:
        server.stop()
    if args.results is not None:
        write_results(args.results, cases, "pg_to_duckdb")


if __name__ == "__main__":
    main()
