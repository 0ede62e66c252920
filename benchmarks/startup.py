"""Start-up benchmark: how long ``dpone`` takes before it does any work, on a server it starts itself.

    .venv/bin/python benchmarks/startup.py                         # this environment's dpone
    .venv/bin/python benchmarks/startup.py --dpone-python ~/.cache/dpone-bench/dpone-venv/bin/python

The second form measures an environment with only ``dpone[postgres]`` installed, as users install
it (see ``pg_to_pg.py`` for setting one up); the targets of issue 20 are for that one: a no-op
``dpone run`` <= 0.4 s and ``dpone manifest validate`` <= 0.2 s. Each measurement is a fresh
``dpone`` process (the console script beside the interpreter), timed wall-clock from spawn to exit:

* ``python -c pass``: the interpreter alone, the floor under every row;
* ``dpone manifest validate`` of a one-process Postgres -> Postgres manifest;
* ``dpone run --run-id r1 --format json`` after ``r1`` committed (a no-op: one audit query);
* the modules the no-op imported, of those that cost 10-300 ms each.

Runs ``--repeat`` times (default 15), interleaved, and prints the minimum and the median: the
minimum is what the code costs, the median what a busy machine adds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration" / "postgres"))
sys.path.insert(0, str(REPO))

from pg_to_pg import pg_profile  # noqa: E402
from pgserver import PostgresServer, start_server  # noqa: E402

from tests.imported_modules import cli_modules  # noqa: E402

PASSWORD_ENV = "DPONE_BENCH_PG_PASSWORD"
"""The variable ``pg_to_pg.pg_profile`` reads the password from."""


def _manifest(server: PostgresServer, folder: Path) -> Path:
    doc = {
        "version": 1,
        "connections": {"pg": pg_profile(server, "postgres")},
        "processes": [
            {
                "name": "orders",
                "source": {"connection": "pg", "table": "public.src"},
                "sink": {"connection": "pg", "table": "public.dst", "strategy": "full_refresh"},
                "schema_contract": {"columns": {"id": {"type": "int64", "nullable": False}}},
            }
        ],
    }
    path = folder / "startup.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Start a server, commit run r1 once, then time the commands."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--dpone-python", type=Path, default=Path(sys.executable))
    args = parser.parse_args()
    python = str(args.dpone_python)
    dpone = str(Path(python).with_name("dpone"))
    server = start_server(prefix="dpone-startup-")
    try:
        env = {**os.environ, PASSWORD_ENV: server.password}
        subprocess.run(
            ["psql", "-q", "-h", server.host, "-p", str(server.port), "-U", server.user, "-d", "postgres", "-c",
             "CREATE TABLE src AS SELECT g AS id FROM generate_series(1, 1000) g"],
            env={**env, "PGPASSWORD": server.password}, check=True,
        )  # fmt: skip
        folder = server.root / "manifests"
        folder.mkdir()
        manifest = _manifest(server, folder)
        noop = [dpone, "run", str(manifest), "--run-id", "r1", "--format", "json"]
        subprocess.run(noop, env=env, check=True, stdout=subprocess.DEVNULL)  # commits r1
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "dpone manifest validate": [dpone, "manifest", "validate", str(manifest)],
            "dpone run (committed run id, no-op)": noop,
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(_timed(command, env))
        print(f"{python}: {args.repeat} runs each, interleaved, {os.cpu_count()} cores")
        print(f"{'command':40} {'min':>7} {'median':>7}")
        for name, values in times.items():
            print(f"{name:40} {min(values):6.3f}s {median(values):6.3f}s")
        if python == sys.executable:
            heavy = cli_modules(noop[1:], folder, {PASSWORD_ENV: server.password}).heavy
            print("the no-op imported: " + (", ".join(sorted(heavy)) or "none of the tracked modules"))
        print(json.dumps({name: min(values) for name, values in times.items()}))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
