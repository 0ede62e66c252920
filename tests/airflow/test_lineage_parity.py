"""The Airflow operator and ``dpone run`` describe a load with the same OpenLineage facets (one builder)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from openlineage.client.serde import Serde

from dpone_provider.operators.run import DponeRunOperator
from tests.airflow.test_operator import _context
from tests.e2e.conftest import run_cli

_VOLATILE = {"_producer", "_schemaURL"}


def _plain(node: Any, root: str) -> Any:
    """Facets as plain data with the copy's folder and the per-facet producer fields taken out."""
    if isinstance(node, dict):
        return {k: _plain(v, root) for k, v in node.items() if k not in _VOLATILE}
    if isinstance(node, list):
        return [_plain(v, root) for v in node]
    return node.replace(root, "<root>") if isinstance(node, str) else node


def test_dpone_run_events_carry_the_operators_facets(quickstart: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(quickstart.parent, twin)
    op = DponeRunOperator(task_id="orders", manifest=str(quickstart))
    op.execute(_context())
    airflow = op.get_openlineage_facets_on_complete(None)

    events = tmp_path / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    env |= {"OPENLINEAGE__TRANSPORT__TYPE": "file", "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(events)}
    env["OPENLINEAGE__TRANSPORT__APPEND"] = "true"
    proc = run_cli("run", str(twin / "orders.yaml"), "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    complete = json.loads(events.read_text(encoding="utf-8").splitlines()[-1])
    assert complete["eventType"] == "COMPLETE"

    for side in ("inputs", "outputs"):
        from_airflow = [_plain(json.loads(Serde.to_json(d)), str(quickstart.parent)) for d in getattr(airflow, side)]
        from_cli = [_plain(d, str(twin)) for d in complete[side]]
        assert from_cli == from_airflow, side
    assert set(airflow.run_facets) <= set(complete["run"]["facets"])
