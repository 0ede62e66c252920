"""Benchmark: Parquet or CSV -> DuckDB ``merge`` with a 5-column contract vs DuckDB's own INSERT ... SELECT.

    python benchmarks/files_to_duckdb.py [--rows 1000000 5000000 20000000] [--workdir DIR] [--no-reload] [--repeat N]
                                         [--format parquet|csv]

For each size it generates a Parquet file, or with ``--format csv`` a CSV file with a header
(ids, decimals, text, timestamps, booleans), then runs,
each in a fresh subprocess so peak RSS is measured per path (each child's own VmHWM, see
``peak_rss.py``):
  raw     DuckDB ``CREATE TABLE ... ; INSERT INTO t SELECT * FROM read_parquet(...)`` (``read_csv``)
  dpone   ``dpone_core.run`` of a merge manifest (primary key, contract on 5 columns, evidence on)
and, unless ``--no-reload``, the same file loaded again into the now full table:
  raw     ``INSERT INTO t SELECT * FROM read_parquet(...) ON CONFLICT (id) DO UPDATE SET ...``
  dpone   the same merge manifest a second time (every key matches)
It prints rows/s, the dpone/raw ratio, peak RSS of each and dpone's write path (``native``: DuckDB
read the file itself, see docs/connectors/duckdb.md). The DuckDB connection keeps dpone's
defaults (no memory_limit): a default tuned here must also hold for a real load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from peak_rss import CHILD_HWM

RAW = (
    CHILD_HWM
    + """
import duckdb, json, sys, time
path, db, reload = sys.argv[1], sys.argv[2], sys.argv[3] == "reload"
scan = f"read_csv('{path}')" if path.endswith(".csv") else f"read_parquet('{path}')"
con = duckdb.connect(db)
start = time.perf_counter()
if reload:
    con.execute(f"INSERT INTO t SELECT * FROM {scan} ON CONFLICT (id) DO UPDATE SET "
                "customer_id = excluded.customer_id, amount = excluded.amount, status = excluded.status, "
                "email = excluded.email, updated_at = excluded.updated_at, flag = excluded.flag")
else:
    con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, customer_id BIGINT, amount DECIMAL(18,2), status VARCHAR, "
                "email VARCHAR, updated_at TIMESTAMPTZ, flag BOOLEAN)")
    con.execute(f"INSERT INTO t SELECT * FROM {scan}")
rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
con.close()  # both paths end with the database checkpointed and closed, as dpone.run does
elapsed = time.perf_counter() - start
print(json.dumps({"rows": rows, "seconds": elapsed, "rss_mb": hwm()}))
"""
)

DPONE = (
    CHILD_HWM
    + """
import json, sys, time
import dpone_core.api, dpone_core.runtime.attempt, dpone_core.connectors.duckdb.sink  # imports outside the timing
import pyarrow
pyarrow.array([0])  # pyarrow imports pandas (when installed) on its first list conversion: an import, not work
start = time.perf_counter()
report = dpone_core.api.run(sys.argv[1])
elapsed = time.perf_counter() - start
assert report.passed, report.to_text()
print(json.dumps({"rows": report.result.extracted_rows, "seconds": elapsed, "rss_mb": hwm(),
                  "steps": report.result.step_seconds, "path": report.result.write_path}))
"""
)

MANIFEST = """
version: 1
connections:
  files: {{type: files, root: {root}}}
  wh: {{type: duckdb, path: {db}}}
processes:
  - name: bench
    source: {{connection: files, path: data.{format}, format: {format}}}
    sink: {{connection: wh, table: t, strategy: merge, primary_key: [id]}}
    runtime_evidence: {{output_dir: evidence}}
    quarantine: {{dir: quarantine}}
    schema_contract:
      enforcement: quarantine
      columns:
        id: {{type: int64, nullable: false, unique: true}}
        amount: {{type: decimal, precision: 18, scale: 2, min: 0}}
        status: {{type: string, allowed: [new, paid, shipped, cancelled]}}
        email: {{type: string, regex: "^[^@ ]+@[^@ ]+$"}}
        updated_at: {{type: timestamp, tz: UTC, nullable: false}}
"""


def generate(path: Path, rows: int) -> None:
    """Write ``rows`` rows of a 7-column orders table with DuckDB (no Python per row), as ``path``'s suffix says."""
    import duckdb

    options = "FORMAT csv, HEADER" if path.suffix == ".csv" else "FORMAT parquet, ROW_GROUP_SIZE 122880"
    duckdb.sql(
        f"""COPY (SELECT i::BIGINT AS id, (i % 9000)::BIGINT AS customer_id,
                   ((i % 50000) / 100.0)::DECIMAL(18,2) AS amount,
                   ['new','paid','shipped','cancelled'][1 + (i % 4)] AS status,
                   'customer' || (i % 9000) || '@example.com' AS email,
                   TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i) AS updated_at,
                   (i % 2 = 0) AS flag
            FROM range({rows}) r(i)) TO '{path}' ({options})"""
    )


def child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter and parse the JSON line it prints."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(rows: int, workdir: Path, reload: bool, repeat: int = 1, file_format: str = "parquet") -> dict[str, float]:
    """Run both paths for one size (a first load, then optionally a re-load) and return the figures.

    With ``repeat`` each round starts from empty databases and runs raw and dpone alternately, so
    both see the same load of a shared machine; the figures are medians over the rounds (the ratio
    the median of each round's ratio), peak RSS the largest.
    """
    folder = workdir / f"rows_{rows}"
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"data.{file_format}"
    if not data.exists():
        generate(data, rows)
    manifest = folder / "bench.yaml"
    text = MANIFEST.format(root=folder, db=folder / "dpone.duckdb", format=file_format)
    manifest.write_text(textwrap.dedent(text))
    phases = ("first", "reload") if reload else ("first",)
    runs: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {phase: [] for phase in phases}
    for _ in range(repeat):
        for name in ("raw.duckdb", "dpone.duckdb"):
            (folder / name).unlink(missing_ok=True)
        for phase in phases:
            raw = child(RAW, str(data), str(folder / "raw.duckdb"), phase)
            ours = child(DPONE, str(manifest))
            assert raw["rows"] == ours["rows"] == rows, (raw, ours)
            runs[phase].append((raw, ours))
    figures: dict[str, Any] = {"rows": rows}
    for phase, pairs in runs.items():
        raw_s = statistics.median(raw["seconds"] for raw, _ in pairs)
        ours_s = statistics.median(ours["seconds"] for _, ours in pairs)
        figures.update(
            {
                f"{phase}_raw_rows_per_s": rows / raw_s,
                f"{phase}_dpone_rows_per_s": rows / ours_s,
                f"{phase}_ratio": statistics.median(raw["seconds"] / ours["seconds"] for raw, ours in pairs),
                f"{phase}_raw_rss_mb": max(raw["rss_mb"] for raw, _ in pairs),
                f"{phase}_dpone_rss_mb": max(ours["rss_mb"] for _, ours in pairs),
                f"{phase}_steps": pairs[-1][1]["steps"],
                f"{phase}_path": ",".join(sorted({str(ours["path"]) for _, ours in pairs})),
            }
        )
    return figures


def main() -> None:
    """Parse arguments, run every size, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-reload", action="store_true", help="Only the first load into a new table.")
    parser.add_argument("--repeat", type=int, default=1, help="Rounds per size (medians; raw and dpone alternate).")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="The input file's format.")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dpone-bench-"))
    results = [bench(rows, workdir, not args.no_reload, args.repeat, args.format) for rows in args.rows]
    phases = ("first",) if args.no_reload else ("first", "reload")
    print(
        f"{'load':>6} {'rows':>11} {'raw rows/s':>12} {'dpone rows/s':>13} {'ratio':>6} "
        f"{'raw RSS MB':>11} {'dpone RSS MB':>13} {'dpone path':>10}"
    )
    for r in results:
        for p in phases:
            print(
                f"{p:>6} {r['rows']:>11,} {r[p + '_raw_rows_per_s']:>12,.0f} {r[p + '_dpone_rows_per_s']:>13,.0f} "
                f"{r[p + '_ratio']:>6.2f} {r[p + '_raw_rss_mb']:>11.0f} {r[p + '_dpone_rss_mb']:>13.0f} "
                f"{r[p + '_path']:>10}"
            )
    for p in phases:
        print(f"dpone step seconds ({p}, {results[-1]['rows']:,} rows):", json.dumps(results[-1][p + "_steps"]))


if __name__ == "__main__":
    main()
