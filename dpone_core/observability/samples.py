"""The samples of one run: every catalogue metric's value and labels, read from a :class:`RunReport`.

Pure (no I/O, no optional imports), so the Prometheus file, the push gateway, the OpenTelemetry
export and the tests all see the same numbers. A value the report does not know (the finish time
of an XCom summary, the lag of a non-timestamp cursor) is left out rather than exported as 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dpone_core.observability import names
from dpone_core.observability.names import MetricName
from dpone_core.runtime.report import RunReport

UNKNOWN = "unknown"
"""The label value of a strategy or connector type the report does not name."""

_ROWS: tuple[tuple[MetricName, str], ...] = (
    (names.ROWS_EXTRACTED, "extracted_rows"),
    (names.ROWS_INSERTED, "inserted_rows"),
    (names.ROWS_UPDATED, "updated_rows"),
    (names.ROWS_DELETED, "deleted_rows"),
    (names.ROWS_QUARANTINED, "quarantined_rows"),
)


@dataclass(frozen=True)
class Sample:
    """One value of one metric, with every label of the metric (``labels`` in the metric's order)."""

    metric: MetricName
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The metric's exported name."""
        return self.metric.name


@dataclass(frozen=True)
class RunSamples:
    """One process's run and its samples: what one grouping key of the push gateway holds."""

    process: str
    run_id: str | None
    load_id: str | None
    status: str
    passed: bool
    samples: tuple[Sample, ...]

    @classmethod
    def of(cls, report: RunReport) -> RunSamples:
        """The run's identity and :func:`run_samples`."""
        process = report.process or UNKNOWN
        samples = tuple(run_samples(report))
        return cls(process, report.run_id, report.load_id, report.status, report.passed, samples)


def connector_kind(described: str | None) -> str:
    """The connector type of a source or target description: the text before the first ``:``.

    >>> connector_kind("files:/x/orders*.csv (csv)"), connector_kind("duckdb:wh.duckdb/analytics.orders")
    ('files', 'duckdb')
    >>> connector_kind(None)
    'unknown'
    """
    kind, sep, _ = (described or "").partition(":")
    return kind.strip() if sep and kind.strip() else UNKNOWN


def run_labels(report: RunReport) -> dict[str, str]:
    """The labels every sample of the run carries (:data:`names.RUN_LABELS`)."""
    return {
        "process": report.process or UNKNOWN,
        "strategy": report.strategy or UNKNOWN,
        "source_kind": connector_kind(report.result.source),
        "sink_kind": connector_kind(report.result.target),
    }


def parse_time(text: str | None) -> datetime | None:
    """An ISO time as an aware datetime (a naive one is UTC, as dpone writes them); None when not a time."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cursor_time(state: Mapping[str, object] | None) -> datetime | None:
    """The committed cursor of a state row when it is a timestamp (``{"kind": "timestamp", ...}``)."""
    encoded = (state or {}).get("cursor_value")
    if not isinstance(encoded, str):
        return None
    try:
        decoded = json.loads(encoded)
    except ValueError:
        return None
    if not isinstance(decoded, dict) or decoded.get("kind") != "timestamp":
        return None
    value = decoded.get("value")
    return parse_time(value) if isinstance(value, str) else None


def run_samples(report: RunReport) -> list[Sample]:
    """Every catalogue metric the report knows a value for, in catalogue order (steps in run order)."""
    result = report.result
    labels = run_labels(report)
    samples = [Sample(metric, float(getattr(result, field_name)), labels) for metric, field_name in _ROWS]
    samples.append(Sample(names.RUN_DURATION, float(result.duration_seconds), labels))
    samples += [
        Sample(names.STEP_DURATION, float(seconds), {**labels, "step": step})
        for step, seconds in result.step_seconds.items()
    ]
    samples += [
        Sample(names.RUN_ATTEMPTS, float(report.attempts), labels),
        Sample(names.RUN_PASSED, 1.0 if report.passed else 0.0, labels),
        Sample(names.RUN_ERRORS, float(len(result.errors)), labels),
        Sample(names.RUN_WARNINGS, float(len(result.warnings)), labels),
    ]
    finished = parse_time(report.finished_at)
    cursor = cursor_time(result.state_after)
    if finished is not None and cursor is not None:
        samples.append(Sample(names.CURSOR_LAG, (finished - cursor).total_seconds(), labels))
    if finished is not None:
        samples.append(Sample(names.RUN_FINISHED, finished.timestamp(), labels))
    return samples
