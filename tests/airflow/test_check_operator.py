"""DponeCheckOperator in-process: passes on a fresh load, fails with one line after another writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

import dpone_core
from dpone_provider.operators.check import DponeCheckOperator


def _orders_db(manifest: Path) -> Path:
    return manifest.parent / ".dpone" / "warehouse.duckdb"


def test_check_passes_then_names_the_broken_rules(quickstart: Path) -> None:
    assert dpone_core.run(quickstart).passed
    op = DponeCheckOperator(task_id="orders__check", manifest=str(quickstart), selector="orders", max_age="1d")
    summary = op.execute({})
    assert summary["passed"] is True and summary["checked_rows"] == 3835
    assert {v["rule"]: v["verdict"] for v in summary["verdicts"]}["load.freshness"] == "passed"

    with duckdb.connect(str(_orders_db(quickstart))) as con:
        con.execute("UPDATE analytics.orders SET status = 'lost' WHERE id <= 3")
    with pytest.raises(AirflowFailException) as failed:
        op.execute({})
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("dpone check orders: 1 checks failed on analytics.orders: status.allowed x3")

    warn = DponeCheckOperator(task_id="soft", manifest=str(quickstart), warn_only=True)
    assert warn.execute({})["passed"] is False


def test_an_unmappable_airflow_connection_fails_with_one_line(quickstart: Path, airflow_connection: Any) -> None:
    data = yaml.safe_load(quickstart.read_text(encoding="utf-8"))
    data["processes"][0]["sink"]["connection"] = "airflow:wh"
    quickstart.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    airflow_connection("wh", conn_type="generic", host="somewhere")
    op = DponeCheckOperator(task_id="orders__check", manifest=str(quickstart))
    with pytest.raises(AirflowFailException) as failed:
        op.execute({})
    assert "\n" not in str(failed.value) and "wh" in str(failed.value)
