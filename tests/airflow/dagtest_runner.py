"""Run ``dag.test()`` for DAG files in a fresh process (``python dagtest_runner.py OUT.json FILE...``).

Launched by the ``dag_runs`` fixture with AIRFLOW_HOME / DAGS_FOLDER pointing at a tmp dir, so the
pytest process never changes its own environment. Writes ``{dag_id: {state, run_id, seconds, error}}``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def run_file(path: Path) -> dict[str, Any]:
    """Import one DAG file and run its ``dag`` with ``dag.test()``."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    started = time.monotonic()
    try:
        dag_run = dag.test()
        return {
            "dag_id": dag.dag_id,
            "state": str(dag_run.state),
            "run_id": dag_run.run_id,
            "seconds": round(time.monotonic() - started, 2),
            "error": None,
        }
    except Exception:  # noqa: BLE001 - recorded for the test to report
        return {
            "dag_id": dag.dag_id,
            "state": "error",
            "run_id": None,
            "seconds": round(time.monotonic() - started, 2),
            "error": traceback.format_exc(),
        }


def main(argv: list[str]) -> int:
    """Run every DAG file given and write the results."""
    out, files = Path(argv[1]), [Path(p) for p in argv[2:]]
    results = {}
    for path in files:
        print(f"=== dagtest_runner: {path.stem} ===", flush=True)
        result = run_file(path)
        results[result["dag_id"]] = result
        print(f"=== dagtest_runner: {path.stem} -> {result['state']} in {result['seconds']}s ===", flush=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
