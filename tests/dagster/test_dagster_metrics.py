"""A Dagster materialization writes the run's metrics itself when the manifest has an ``observability:`` block."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from prometheus_client.parser import text_string_to_metric_families

from dpone_dagster import DponeResource, build_dpone_assets


def test_a_materialization_exports_metrics(quickstart: Path, instance: dg.DagsterInstance) -> None:
    text = quickstart.read_text(encoding="utf-8")
    quickstart.write_text(text.replace("processes:\n", "observability: {metrics_dir: metrics}\nprocesses:\n", 1))
    result = dg.materialize(build_dpone_assets(quickstart), instance=instance, resources={"dpone": DponeResource()})
    assert result.success
    prom = (quickstart.parent / "metrics" / "orders" / "runtime_metrics.prom").read_text(encoding="utf-8")
    values = {s.name: s.value for f in text_string_to_metric_families(prom) for s in f.samples}
    assert values["dpone_rows_extracted"] == 4000 and values["dpone_run_passed"] == 1
