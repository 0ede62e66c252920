"""Fixtures for the Airflow provider tests.

``dag.test()`` runs in ONE subprocess per test session (``dag_runs``): it gets its own AIRFLOW_HOME,
DAGS_FOLDER and sqlite database under the session's tmp dir, runs ``airflow db migrate`` once and
then every scenario DAG of :mod:`airflow_scenarios`. The pytest process never changes its own
environment, so nothing leaks into other test modules. Under ``pytest -n auto`` the workers share
one run through a file lock in the session's common tmp root; the others wait and read the results.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    import airflow.sdk  # noqa: F401
except ImportError:  # the airflow extra is not installed: nothing here can run
    collect_ignore_glob = ["test_*.py"]

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is an airflow test (``-m airflow`` selects them)."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.airflow)


@dataclass
class DagRuns:
    """Results of the session's ``dag.test()`` runs, read back from Airflow's own database."""

    root: Path
    results: dict[str, Any]
    scenario: dict[str, Any]
    log: str
    seconds: dict[str, float]

    @property
    def db(self) -> Path:
        """The sqlite metadata database of the run."""
        return self.root / "airflow_home" / "airflow.db"

    def section(self, dag_id: str) -> str:
        """The part of the subprocess log written while ``dag_id`` ran."""
        start = self.log.find(f"=== dagtest_runner: {dag_id} ===")
        end = self.log.find(f"=== dagtest_runner: {dag_id} ->")
        return self.log[start:end] if start >= 0 else ""

    def explain(self, dag_id: str) -> str:
        """The run's result and its error lines, for assertion messages."""
        lines = [
            line[:500]
            for line in self.section(dag_id).splitlines()
            if "error" in line.lower() or "DPONE_" in line or "Traceback" in line
        ]
        return f"{self.results.get(dag_id)}\n" + "\n".join(lines[-40:])

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows from Airflow's database (read-only)."""
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def task_states(self, dag_id: str) -> dict[tuple[str, int], tuple[str, int]]:
        """``{(task_id, map_index): (state, try_number)}`` of the DAG's run."""
        rows = self.query("SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id = ?", (dag_id,))
        return {(t, m): (s, n) for t, m, s, n in rows}

    def xcom(self, dag_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """One XCom value (JSON-decoded), or None."""
        rows = self.query(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = ? AND map_index = ?",
            (dag_id, task_id, key, map_index),
        )
        if not rows:
            return None
        value = rows[0][0]
        return json.loads(value) if isinstance(value, str | bytes) else value


def _shared_root(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def _run_all(root: Path) -> None:
    """Create scenarios, migrate the database and run every DAG in one subprocess; write results.json."""
    import airflow_scenarios as scenarios

    scenario = scenarios.build(root / "scenario")
    home = root / "airflow_home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST_XDIST"))}
    env.update(scenario["env"])
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": scenario["dags"],
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(root / "openlineage.jsonl"), "append": True}
            ),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "dpone-tests",
            "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        }
    )
    seconds: dict[str, float] = {}
    log = root / "dagtest.log"
    with log.open("w", encoding="utf-8") as out:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=300,
        )
        seconds["migrate"] = round(time.monotonic() - started, 2)
        files = [str(Path(scenario["dags"]) / f"{dag_id}.py") for dag_id in scenarios.RUN_ORDER]
        started = time.monotonic()
        subprocess.run(
            [sys.executable, str(HERE / "dagtest_runner.py"), str(root / "results_dags.json"), *files],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=600,
        )
        seconds["dag_tests"] = round(time.monotonic() - started, 2)
    (root / "scenario.json").write_text(json.dumps(scenario), encoding="utf-8")
    (root / "seconds.json").write_text(json.dumps(seconds), encoding="utf-8")
    (root / "results.json").write_text((root / "results_dags.json").read_text(encoding="utf-8"), encoding="utf-8")


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An inter-process lock on ``path`` (POSIX flock; xdist workers are processes)."""
    import fcntl

    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def dag_runs(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[DagRuns]:
    """Every scenario DAG run once per session with ``dag.test()`` (shared by all xdist workers)."""
    root = _shared_root(tmp_path_factory, worker_id) / "dpone_airflow_dagtest"
    with _exclusive(Path(str(root) + ".lock")):
        if not (root / "results.json").exists() and not (root / "failed").exists():
            root.mkdir(exist_ok=True)
            try:
                _run_all(root)
            except Exception:
                (root / "failed").write_text("see dagtest.log", encoding="utf-8")
                raise
    if (root / "failed").exists():
        log_tail = (root / "dagtest.log").read_text(encoding="utf-8")[-4000:] if (root / "dagtest.log").exists() else ""
        pytest.fail(f"dag.test() subprocess failed:\n{log_tail}")
    yield DagRuns(
        root=root,
        results=json.loads((root / "results.json").read_text(encoding="utf-8")),
        scenario=json.loads((root / "scenario.json").read_text(encoding="utf-8")),
        log=(root / "dagtest.log").read_text(encoding="utf-8"),
        seconds=json.loads((root / "seconds.json").read_text(encoding="utf-8")),
    )


@pytest.fixture()
def airflow_connection(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Define an Airflow Connection for one test through ``AIRFLOW_CONN_<ID>`` (removed afterwards)."""

    def define(conn_id: str, **fields: Any) -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))

    return define
