"""The metric catalogue: every name dpone exports, its help text, unit and labels.

One table shared by the exporters (Prometheus exposition, push gateway, OpenTelemetry) and by the
observability pack (Grafana panels, alert rules), so a dashboard never queries a name the export
does not write. Every run metric is a gauge holding the value of the latest run of a process: a
scheduler starts a fresh process per run, so there is no long-lived counter to increment.
"""

from __future__ import annotations

from dataclasses import dataclass

RUN_LABELS: tuple[str, ...] = ("process", "strategy", "source_kind", "sink_kind")
"""Labels on every run metric (``source_kind``/``sink_kind`` are connector types: postgres, duckdb, ...)."""


@dataclass(frozen=True)
class MetricName:
    """One exported metric."""

    name: str
    help: str
    unit: str = ""
    """OpenTelemetry unit (``s``, ``{row}``, ...); the Prometheus name already carries it."""
    extra_labels: tuple[str, ...] = ()
    """Labels beyond :data:`RUN_LABELS` (``step`` for per-step durations)."""

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label of the metric, in exposition order."""
        return (*RUN_LABELS, *self.extra_labels)


ROWS_EXTRACTED = MetricName("dpone_rows_extracted", "Rows the latest run read from the source.", "{row}")
ROWS_INSERTED = MetricName("dpone_rows_inserted", "Rows the latest run inserted into the target.", "{row}")
ROWS_UPDATED = MetricName("dpone_rows_updated", "Rows the latest run updated in the target.", "{row}")
ROWS_DELETED = MetricName("dpone_rows_deleted", "Rows the latest run deleted (or closed) in the target.", "{row}")
ROWS_QUARANTINED = MetricName("dpone_rows_quarantined", "Rows the latest run's contract quarantined.", "{row}")
RUN_DURATION = MetricName("dpone_run_duration_seconds", "Wall time of the latest run.", "s")
STEP_DURATION = MetricName("dpone_step_duration_seconds", "Wall time of one step of the latest run.", "s", ("step",))
RUN_ATTEMPTS = MetricName("dpone_run_attempts", "Attempts the latest run took (1 = no retry).", "{attempt}")
RUN_PASSED = MetricName("dpone_run_passed", "1 when the latest run passed, 0 when it failed.")
RUN_ERRORS = MetricName("dpone_run_errors", "Errors the latest run reported.", "{error}")
RUN_WARNINGS = MetricName("dpone_run_warnings", "Warnings the latest run reported.", "{warning}")
CURSOR_LAG = MetricName(
    "dpone_cursor_lag_seconds",
    "Run finish time minus the committed cursor value, for a timestamp cursor (absent otherwise).",
    "s",
)
RUN_FINISHED = MetricName(
    "dpone_run_finished_timestamp_seconds", "Unix time the latest run finished (alert on staleness).", "s"
)

ALL: tuple[MetricName, ...] = (
    ROWS_EXTRACTED,
    ROWS_INSERTED,
    ROWS_UPDATED,
    ROWS_DELETED,
    ROWS_QUARANTINED,
    RUN_DURATION,
    STEP_DURATION,
    RUN_ATTEMPTS,
    RUN_PASSED,
    RUN_ERRORS,
    RUN_WARNINGS,
    CURSOR_LAG,
    RUN_FINISHED,
)
BY_NAME: dict[str, MetricName] = {m.name: m for m in ALL}

ALIASES: dict[str, str] = {"dpone_error_count": RUN_ERRORS.name, "dpone_warning_count": RUN_WARNINGS.name}
"""Names the original dpone's docs use, accepted where a user names a metric (``--alert``). They are
not exported: Prometheus reserves ``_count`` for histograms and summaries (``promtool check metrics``)."""
