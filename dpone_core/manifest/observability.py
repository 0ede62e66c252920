"""The manifest's ``observability:`` block: what every run of the manifest publishes by itself."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dpone_core.model.strict import StrictModel


class Observability(StrictModel):
    """Metrics and lineage a run publishes without a second command (cron, Airflow and Dagster alike)."""

    metrics_dir: str | None = Field(
        None,
        description="Write runtime_metrics.json and runtime_metrics.prom under <metrics_dir>/<process>/ after "
        "every run (relative to the manifest; may be a reference).",
    )
    push_gateway: str | None = Field(None, description="Push each run's metrics to this Prometheus Pushgateway URL.")
    otlp_endpoint: str | None = Field(
        None,
        description="Export each run's metrics to this OTLP/HTTP endpoint (e.g. http://collector:4318/v1/metrics).",
    )
    job: str = Field("dpone", min_length=1, description="Pushgateway job label.")
    openlineage: Literal["auto", "off"] = Field(
        "auto",
        description="auto: emit START/COMPLETE/FAIL events when OpenLineage is configured (OPENLINEAGE_URL, "
        "OPENLINEAGE_CONFIG, openlineage.yml); off: never.",
    )
    openlineage_namespace: str | None = Field(
        None, description="OpenLineage job namespace (default: OPENLINEAGE_NAMESPACE or 'dpone')."
    )
