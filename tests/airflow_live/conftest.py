"""A real Airflow 3.3 stack for the tests in this folder: api-server, scheduler, dag-processor, triggerer.

``dag.test()`` runs one DAG run in-process; backfills, overlapping runs, the triggerer and
asset-triggered DAGs need the real components. The session fixture builds AIRFLOW_HOME and a DAGs
folder in a tmp dir (the quickstart manifest and data are copied there, so nothing is written into
the repository), migrates a SQLite metadata DB (Airflow 3.3 runs the LocalExecutor on it), starts
the four components as subprocesses in their own process groups, and stops those groups at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = Path(sys.executable).with_name("airflow")
LIVE_DAGS = Path(__file__).with_name("live_dags.py")
LIVE_DAG_IDS = ("dpone_quickstart", "dpone_live_consumer", "dpone_checked", "dpone_wait_for_orders", "dpone_days")
DAYS = ("2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30")
"""The days of ``days/data/events.csv`` (4 events each); the DAG's backfill loads the last three."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here needs Airflow and starts real servers."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.airflow)
            item.add_marker(pytest.mark.integration)


@dataclass
class Stack:
    """The running stack: its environment, folders and a way to run the CLI against it."""

    home: Path
    dags: Path
    env: dict[str, str]

    @property
    def db(self) -> Path:
        """The SQLite metadata database."""
        return self.home / "airflow.db"

    def wait_for_runs(self, dag_id: str, count: int, timeout: float = 240) -> list[str]:
        """The states of ``dag_id``'s runs once ``count`` of them have finished (or at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            states = [str(r[0]) for r in self.query("SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id", dag_id)]
            done = len(states) >= count and all(s in {"success", "failed"} for s in states)
            if done or time.monotonic() > deadline:
                return states
            time.sleep(2)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """``{task_id: state}`` of one DAG run (mapped tasks: the state of each map index, joined)."""
        rows = self.query(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ? ORDER BY map_index",
            dag_id,
            run_id,
        )
        states: dict[str, str] = {}
        for task_id, state in rows:
            states[str(task_id)] = ",".join(filter(None, [states.get(str(task_id)), str(state)]))
        return states

    @property
    def warehouse(self) -> Path:
        """The quickstart's DuckDB target inside the tmp DAGs folder."""
        return self.dags / "quickstart" / ".dpone" / "warehouse.duckdb"

    def cli(self, *args: str, timeout: float = 120) -> str:
        """Run ``airflow <args>`` against this stack; raises with its output when it fails.

        SQLite takes one writer at a time: a CLI write racing the scheduler can meet "database is
        locked", and then it is tried again (the failed try rolled back).
        """
        for _ in range(5):
            done = subprocess.run(
                [str(AIRFLOW), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
            if done.returncode == 0 or "database is locked" not in done.stdout + done.stderr:
                break
            time.sleep(1)
        assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        """Rows from the metadata database (read-only)."""
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def logs(self) -> str:
        """Every task log written so far."""
        return "\n".join(
            p.read_text(encoding="utf-8", errors="replace") for p in (self.home / "logs").rglob("*") if p.is_file()
        )


def _checked_copy(dags: Path) -> None:
    """``checked/``: the quickstart plus ``orders_copy``, a second load of the file after ``orders``."""
    shutil.copytree(dags / "quickstart", dags / "checked")
    manifest = dags / "checked" / "orders.yaml"
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    copy = yaml.safe_load(yaml.safe_dump(data["processes"][0]))
    copy.update(name="orders_copy", depends_on=["orders"])
    # The sensor and the check read the file while loads write it: wait on its lock, do not fail.
    data["connections"]["warehouse"]["lease_wait_seconds"] = 60
    copy["sink"]["table"] = "analytics.orders_copy"
    data["processes"].append(copy)
    manifest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _daily_events(dags: Path) -> None:
    """``days/``: events with a ``ts`` column over four days, loaded by day partition."""
    (dags / "days" / "data").mkdir(parents=True)
    lines = ["id,ts,v"]
    for n, day in enumerate(DAYS):
        lines += [f"{4 * n + h},{day}T{6 * h:02d}:00:00Z,{10 * (4 * n + h)}" for h in range(4)]
    (dags / "days" / "data" / "events.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = {
        "version": 1,
        "connections": {"inbox": {"type": "files", "root": "data"}, "wh": {"type": "duckdb", "path": "days.duckdb"}},
        "processes": [
            {
                "name": "events",
                "source": {"connection": "inbox", "path": "events.csv", "format": "csv"},
                "sink": {"connection": "wh", "table": "raw.events", "strategy": "partition_replace"},
                "partitions": {"column": "ts", "grain": "day", "start": DAYS[0], "chunk_dir": "chunks"},
                "schema_contract": {
                    "columns": {
                        "id": {"type": "int64", "nullable": False},
                        "ts": {"type": "timestamp", "tz": "UTC", "nullable": False},
                        "v": {"type": "int64"},
                    }
                },
            }
        ],
    }
    (dags / "days" / "events.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: object, timeout: float, procs: dict[str, subprocess.Popen[bytes]], home: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                log = (home / f"{name}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"airflow {name} exited with {proc.returncode} while waiting for {what}:\n{log}")
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start api-server, scheduler, dag-processor and triggerer on a tmp AIRFLOW_HOME; stop them after."""
    if not AIRFLOW.exists():
        pytest.skip(f"the airflow CLI is not installed next to {sys.executable} (install dpone[airflow])")
    root = tmp_path_factory.mktemp("airflow_live")
    home, dags = root / "home", root / "dags"
    home.mkdir()
    dags.mkdir()
    shutil.copytree(
        REPO / "dags_examples" / "quickstart",
        dags / "quickstart",
        ignore=shutil.ignore_patterns(".dpone", "__pycache__"),
    )
    _checked_copy(dags)
    _daily_events(dags)
    shutil.copy(LIVE_DAGS, dags / "live_dags.py")
    (dags / ".airflowignore").write_text("quickstart/\nchecked/\ndays/\n", encoding="utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "DPONE_LIVE_RESULTS": str(root / "results"),
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    stack = Stack(home, dags, env)
    stack.cli("db", "migrate", timeout=180)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            log = (home / f"{name}.log").open("wb")
            procs[name] = subprocess.Popen(
                [str(AIRFLOW), name], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        health = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        _wait("the api-server", lambda: urllib.request.urlopen(health, timeout=2).status == 200, 90, procs, home)

        def parsed() -> bool:
            ids = {r[0] for r in stack.query("SELECT dag_id FROM serialized_dag")}
            return set(LIVE_DAG_IDS) <= ids

        _wait("the DAGs to be parsed", parsed, 90, procs, home)
        yield stack
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
