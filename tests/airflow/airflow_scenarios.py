"""Manifests and DAG files the Airflow tests run with ``dag.test()`` (written into a tmp DAGS_FOLDER).

Every DAG file mentions "airflow" and "dag": Airflow's safe-mode parser skips files without both words.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "dags_examples" / "quickstart"

STRICT_CSV = (
    "id,amount,updated_at\n1,10.50,2026-01-01T00:00:00Z\n2,5.00,2026-01-02T00:00:00Z\n2,7.25,2026-01-03T00:00:00Z\n"
)

STRICT_MANIFEST: dict[str, Any] = {
    "version": 1,
    "connections": {
        "inbox": {"type": "files", "root": "data"},
        "warehouse": {"type": "duckdb", "path": "strict.duckdb"},
    },
    "processes": [
        {
            "name": "strict_orders",
            "source": {"connection": "inbox", "path": "orders.csv", "format": "csv"},
            "sink": {
                "connection": "warehouse",
                "table": "analytics.strict_orders",
                "strategy": "merge",
                "primary_key": ["id"],
            },
            "schema_contract": {
                "enforcement": "strict",
                "columns": {
                    "id": {"type": "int64", "nullable": False, "unique": True},
                    "amount": {"type": "decimal", "precision": 18, "scale": 2, "min": 0},
                    "updated_at": {"type": "timestamp", "tz": "UTC"},
                },
            },
            # Mapped to Airflow retries; a contract violation must still fail at once (no retry).
            "retry": {"attempts": 2, "backoff_seconds": 1},
            "orchestration": {"owners": ["team:data-eng"]},
        }
    ],
}

PARTITIONED_MANIFEST: dict[str, Any] = {
    "version": 1,
    "connections": {
        "inbox": {"type": "files", "root": "data"},
        "warehouse": {"type": "duckdb", "path": "partitioned.duckdb"},
        # A second file: reading and writing one DuckDB file in one process fails in the core
        # today ("connection has an open result"), see the provider's report.
        "mart": {"type": "duckdb", "path": "mart.duckdb"},
    },
    "processes": [
        {
            "name": "orders_by_status",
            "source": {
                "connection": "inbox",
                "path": "orders*.csv",
                "format": "csv",
                "columns": ["id", "status", "updated_at"],
            },
            "sink": {
                "connection": "warehouse",
                "table": "analytics.orders_by_status",
                "strategy": "merge",
                "primary_key": ["id"],
            },
            "partitions": {"column": "status", "values": ["new", "paid"]},
        },
        {
            "name": "status_copy",
            "depends_on": ["orders_by_status"],
            "source": {"connection": "warehouse", "table": "analytics.orders_by_status"},
            "sink": {"connection": "mart", "table": "analytics.status_copy", "strategy": "full_refresh"},
        },
    ],
}

AIRFLOW_CONN_MANIFEST: dict[str, Any] = {
    "version": 1,
    "processes": [
        {
            "name": "orders_via_airflow",
            "source": {"connection": "airflow:dpone_test_inbox", "path": "orders*.csv", "format": "csv"},
            "sink": {"connection": "airflow:dpone_test_wh", "table": "analytics.orders_af", "strategy": "append"},
        }
    ],
}

FAR_FUTURE = "2999-01-01T00:00:00+00:00"

DAG_FILES = {
    "dpone_quickstart.py": """\
# airflow DAG: the quickstart manifest end to end, then a sensor that sees the committed load.
from datetime import datetime

from dpone_provider.sensors.load import DponeLoadSensor
from dpone_provider.task_group import dpone_dag

MANIFEST = {quickstart!r}
dag = dpone_dag(MANIFEST, dag_id="dpone_quickstart", start_date=datetime(2026, 1, 1))
with dag:
    loaded = DponeLoadSensor(task_id="orders_loaded", manifest=MANIFEST, selector="orders", since=None,
                             mode="poke", poke_interval=1, timeout=30)
    dag.get_task("orders") >> loaded
""",
    "dpone_strict.py": """\
# airflow DAG: a strict contract with a duplicate key; the task must fail without retries.
from datetime import datetime

from dpone_provider.task_group import dpone_dag

dag = dpone_dag({strict!r}, dag_id="dpone_strict", start_date=datetime(2026, 1, 1))
""",
    "dpone_sensor_timeouts.py": """\
# airflow DAG: sensors waiting for a load that never comes (deferred and poke mode).
from datetime import datetime

from airflow.sdk import DAG
from dpone_provider.sensors.load import DponeLoadSensor

with DAG("dpone_sensor_timeouts", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    DponeLoadSensor(task_id="deferred", manifest={quickstart!r}, selector="orders", since={future!r},
                    deferrable=True, poke_interval=1, timeout=3)
    DponeLoadSensor(task_id="poked", manifest={quickstart!r}, selector="orders", since={future!r},
                    deferrable=False, mode="poke", poke_interval=1, timeout=2)
""",
    "dpone_partitioned.py": """\
# airflow DAG: value partitions become mapped tasks; depends_on becomes a task dependency.
from datetime import datetime

from airflow.sdk import DAG
from dpone_provider.task_group import dpone_task_group

with DAG("dpone_partitioned", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    dpone_task_group({partitioned!r}, group_id="loads")
""",
    "dpone_airflow_conns.py": """\
# airflow DAG: processes that name Airflow Connections (airflow:<conn_id>) instead of manifest connections.
from datetime import datetime

from dpone_provider.task_group import dpone_dag

dag = dpone_dag({airflow_conns!r}, dag_id="dpone_airflow_conns", start_date=datetime(2026, 1, 1))
""",
}

RUN_ORDER = ("dpone_quickstart", "dpone_strict", "dpone_sensor_timeouts", "dpone_partitioned", "dpone_airflow_conns")


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    """Write a manifest and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def build(root: Path) -> dict[str, Any]:
    """Create manifests, data and DAG files under ``root``; return the paths and the extra environment."""
    quickstart_dir = root / "quickstart"
    shutil.copytree(QUICKSTART, quickstart_dir, ignore=shutil.ignore_patterns(".dpone", "__pycache__"))
    strict_dir = root / "strict"
    (strict_dir / "data").mkdir(parents=True)
    (strict_dir / "data" / "orders.csv").write_text(STRICT_CSV, encoding="utf-8")
    partitioned_dir = root / "partitioned"
    shutil.copytree(QUICKSTART / "data", partitioned_dir / "data")
    conns_dir = root / "airflow_conns"
    conns_dir.mkdir()
    paths = {
        "quickstart": str(quickstart_dir / "orders.yaml"),
        "strict": str(write_yaml(strict_dir / "strict.yaml", STRICT_MANIFEST)),
        "partitioned": str(write_yaml(partitioned_dir / "partitioned.yaml", PARTITIONED_MANIFEST)),
        "airflow_conns": str(write_yaml(conns_dir / "orders_via_airflow.yaml", AIRFLOW_CONN_MANIFEST)),
    }
    dags = root / "dags"
    dags.mkdir()
    for name, template in DAG_FILES.items():
        (dags / name).write_text(template.format(future=FAR_FUTURE, **paths), encoding="utf-8")
    env = {
        "AIRFLOW_CONN_DPONE_TEST_INBOX": json.dumps({"conn_type": "fs", "extra": {"path": str(QUICKSTART / "data")}}),
        "AIRFLOW_CONN_DPONE_TEST_WH": json.dumps({"conn_type": "duckdb", "host": str(conns_dir / "wh.duckdb")}),
    }
    return {
        "paths": paths,
        "dags": str(dags),
        "env": env,
        "duckdb": {
            "quickstart": str(quickstart_dir / ".dpone" / "warehouse.duckdb"),
            "strict": str(strict_dir / "strict.duckdb"),
            "partitioned": str(partitioned_dir / "partitioned.duckdb"),
            "mart": str(partitioned_dir / "mart.duckdb"),
            "airflow_conns": str(conns_dir / "wh.duckdb"),
        },
    }
