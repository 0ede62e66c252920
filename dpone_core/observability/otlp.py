"""OpenTelemetry: runs' samples as gauges of a MeterProvider, exported once over OTLP/HTTP.

:func:`record` sets every sample on synchronous gauges (the catalogue's names, units and help;
the labels become attributes) of a MeterProvider over a reader, flushes once and shuts down.
:func:`export` records into the SDK's ``InMemoryMetricReader`` and hands that one collection to
``OTLPMetricExporter.export`` itself (calling the exporter once), because a
``PeriodicExportingMetricReader`` drops the exporter's verdict and a failed export would pass
silently. A test passes its own ``InMemoryMetricReader`` to :func:`record` and reads the very
data points :func:`export` sends. The SDK comes with
the ``observability`` extra and is imported inside the functions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dpone_core.errors import DponeConnectionError
from dpone_core.observability import names
from dpone_core.observability.prometheus import without_credentials
from dpone_core.observability.samples import RunSamples

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader

STEP = "otlp"
SCOPE = "dpone"
"""The instrumentation scope of every dpone metric."""
_ERRNO = re.compile(r"\[Errno -?\d+\][^\"')]*")


def record(runs: Sequence[RunSamples], reader: MetricReader, *, service: str = "dpone") -> None:
    """Set every sample on gauges of a MeterProvider over ``reader``, flush once, and shut it down.

    ``reader`` then holds (an ``InMemoryMetricReader``) or has exported (a push reader) exactly
    one collection: every sample with the catalogue's name, unit and help, labels as attributes.
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource

    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": service}))
    try:
        meter = provider.get_meter(SCOPE)
        gauges = {m.name: meter.create_gauge(m.name, unit=m.unit, description=m.help) for m in names.ALL}
        for run in runs:
            for sample in run.samples:
                gauges[sample.name].set(sample.value, attributes=dict(sample.labels))
        provider.force_flush()
    finally:
        provider.shutdown()


def export(runs: Sequence[RunSamples], endpoint: str, *, service: str = "dpone", timeout: float = 10.0) -> str:
    """Export ``runs`` once to the OTLP/HTTP ``endpoint``; returns it (without credentials).

    A collector that cannot be reached or refuses is a :class:`DponeConnectionError` naming the
    endpoint and the exporter's first complaint.
    """
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult

    shown = without_credentials(endpoint)[0]
    reader = InMemoryMetricReader()
    record(runs, reader, service=service)
    data = reader.get_metrics_data()
    if data is None:
        return shown  # nothing was recorded: nothing to send
    exporter = OTLPMetricExporter(endpoint=endpoint, timeout=timeout)
    with _exporter_log() as complaints:
        try:
            result = exporter.export(data, timeout_millis=timeout * 1000)
        finally:
            exporter.shutdown()
    if result is not MetricExportResult.SUCCESS:
        why = _reason(complaints)
        raise DponeConnectionError(
            f"cannot export metrics to the OTLP endpoint {shown}: {why}",
            step=STEP,
            fix="check the OTLP/HTTP endpoint (e.g. http://collector:4318/v1/metrics) and that the collector is up",
        )
    return shown


def _reason(complaints: list[str]) -> str:
    """The gist of the exporter's first complaint: the OS error when there is one (connection refused...)."""
    if not complaints:
        return "the export failed"
    errno = _ERRNO.search(complaints[0])
    return errno.group(0).strip() if errno else complaints[0].split(" encountered while")[0][:200]


class _Complaints(logging.Handler):
    """Keeps the exporter's log lines: they become the error's reason instead of stray stderr output."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(" ".join(record.getMessage().split())[:300])


@contextmanager
def _exporter_log() -> Iterator[list[str]]:
    """Route the OTLP exporter's warnings into a list for the duration of one export."""
    logger = logging.getLogger("opentelemetry.exporter")
    handler = _Complaints()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
