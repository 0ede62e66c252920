"""An Airflow task writes the run's metrics itself when the manifest has an ``observability:`` block."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from dpone_provider.operators.run import DponeRunOperator
from tests.airflow.test_operator import _context


def test_the_operator_run_exports_metrics(quickstart: Path) -> None:
    text = quickstart.read_text(encoding="utf-8")
    quickstart.write_text(text.replace("processes:\n", "observability: {metrics_dir: metrics}\nprocesses:\n", 1))
    op = DponeRunOperator(task_id="orders", manifest=str(quickstart))
    op.execute(_context())
    prom = (quickstart.parent / "metrics" / "orders" / "runtime_metrics.prom").read_text(encoding="utf-8")
    values = {s.name: s.value for f in text_string_to_metric_families(prom) for s in f.samples}
    assert values["dpone_rows_inserted"] == 3835 and values["dpone_run_passed"] == 1
