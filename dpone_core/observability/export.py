"""Export runs' metrics: ``runtime_metrics.json`` / ``.prom``, a Pushgateway, an OTLP collector.

:func:`export_run_metrics` is the one entry point: ``dpone observability metrics-export`` calls it
with the reports of a run result file, and the runtime calls it after every run (``dpone run
--metrics-dir``, the manifest's ``observability:`` block). The files are written first, so a
destination that is down still leaves them behind; then every destination is tried, and a
failure of any is one :class:`DponeConnectionError` naming them. ``prometheus_client`` and the
OpenTelemetry SDK come with the ``observability`` extra; without it, a destination that needs
one is a :class:`ConfigurationError` naming the install.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dpone_core.durable import sha256_file, write_bytes, write_json
from dpone_core.errors import ConfigurationError, DponeConnectionError, DponeError
from dpone_core.observability import otlp, prometheus
from dpone_core.observability.samples import RunSamples, Sample
from dpone_core.redaction import redact
from dpone_core.runtime.report import RunReport

KIND = "runtime_metrics"
JSON_FILE = "runtime_metrics.json"
PROM_FILE = "runtime_metrics.prom"
SCHEMA_VERSION = 1
INSTALL = "pip install 'dpone[observability]'"
PROMETHEUS = "prometheus_client"
OPENTELEMETRY = ("opentelemetry.sdk.metrics", "opentelemetry.exporter.otlp.proto.http.metric_exporter")


@dataclass(frozen=True)
class MetricsExport:
    """What one export did: the runs' samples, the files written and the URLs sent to."""

    runs: tuple[RunSamples, ...]
    written: tuple[Path, ...] = ()
    pushed: tuple[str, ...] = ()
    """Pushgateway group URLs and the OTLP endpoint, without credentials."""


def export_run_metrics(
    reports: Sequence[RunReport],
    *,
    output_dir: Path | None,
    push_gateway: str | None = None,
    otlp_endpoint: str | None = None,
    job: str = "dpone",
    source: Path | None = None,
    timeout: float = 10.0,
) -> MetricsExport:
    """Export one set of samples per report to every destination given.

    ``output_dir`` receives ``runtime_metrics.json`` and ``runtime_metrics.prom``; ``push_gateway``
    gets one group per process (``job``, ``process``); ``otlp_endpoint`` one OTLP/HTTP export.
    ``source`` is the run result file the reports were read from: the JSON records its sha256
    (without one, the sha256 of the reports' own JSON).
    """
    runs = tuple(RunSamples.of(report) for report in reports)
    written: tuple[Path, ...] = ()
    if output_dir is not None:
        try:
            written = write_files(runs, output_dir, input_document(reports, source))
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write the metrics files under {output_dir}: {exc.strerror or exc}",
                step="metrics",
                fix="give a writable metrics directory",
            ) from None
    pushed: list[str] = []
    failures: list[DponeConnectionError] = []
    if push_gateway:
        _require("the Pushgateway push", PROMETHEUS)
        _attempt(lambda: prometheus.push(runs, push_gateway, job=job, timeout=timeout), pushed, failures)
    if otlp_endpoint:
        _require("the OTLP export", *OPENTELEMETRY)
        _attempt(lambda: [otlp.export(runs, otlp_endpoint, service=job, timeout=timeout)], pushed, failures)
    if failures:
        raise _combined(failures)
    return MetricsExport(runs, written, tuple(pushed))


def _attempt(send: Callable[[], list[str]], pushed: list[str], failures: list[DponeConnectionError]) -> None:
    """Send to one destination; a connection failure is kept so the next destination is still tried."""
    try:
        pushed.extend(send())
    except DponeConnectionError as exc:
        failures.append(exc)


def _combined(failures: list[DponeConnectionError]) -> DponeConnectionError:
    """One error (one line) naming every destination that failed."""
    if len(failures) == 1:
        return failures[0]
    message = "; ".join(f"{f.step}: {f.message}" for f in failures)
    return DponeConnectionError(message, step="metrics", fix="check each URL and that the services are up")


def input_document(reports: Sequence[RunReport], source: Path | None) -> dict[str, Any]:
    """``{"path", "sha256"}`` of the run result file, or of the reports' canonical JSON without one."""
    if source is not None:
        return {"path": str(source), "sha256": sha256_file(source)}
    canonical = json.dumps([r.model_dump(mode="json") for r in reports], sort_keys=True, default=str)
    return {"path": None, "sha256": hashlib.sha256(redact(canonical).encode("utf-8")).hexdigest()}


def write_files(runs: Sequence[RunSamples], output_dir: Path, source: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``runtime_metrics.prom``, then ``runtime_metrics.json`` naming its sha256 (both atomically)."""
    _require("runtime_metrics.prom", PROMETHEUS)
    exposition = prometheus.exposition(runs)
    output_dir.mkdir(parents=True, exist_ok=True)
    prom = output_dir / PROM_FILE
    write_bytes(prom, exposition)
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "created_at": datetime.now(UTC).isoformat(),
        "input": source,
        "runs": [run_document(run) for run in runs],
        "artifacts": {PROM_FILE: sha256_file(prom)},
    }
    path = output_dir / JSON_FILE
    write_json(path, json.loads(redact(json.dumps(document, default=str))))
    return path, prom


def run_document(run: RunSamples) -> dict[str, Any]:
    """One run in ``runtime_metrics.json``: its identity and every sample (name, unit, labels, value)."""
    return {
        "process": run.process,
        "run_id": run.run_id,
        "load_id": run.load_id,
        "status": run.status,
        "passed": run.passed,
        "metrics": [sample_document(s) for s in run.samples],
    }


def sample_document(sample: Sample) -> dict[str, Any]:
    """One sample as JSON."""
    return {"name": sample.name, "unit": sample.metric.unit, "labels": dict(sample.labels), "value": sample.value}


def _missing(exc: ImportError, what: str) -> DponeError:
    """The one-line error of a missing ``observability`` extra."""
    return ConfigurationError(f"{what} needs {exc.name or 'a package'} (not installed)", step="metrics", fix=INSTALL)


def _require(what: str, *modules: str) -> None:
    """Import the extra's packages a destination needs (prometheus.py and otlp.py import them lazily)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise _missing(exc, what) from None
