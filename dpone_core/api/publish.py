"""What a run publishes around itself: OpenLineage events and runtime metrics.

``dpone run``, ``dpone_core.run``, ``dpone orchestrate`` and the Dagster assets all pass through
:func:`dpone_core.api.run`, so publishing here means a cron job, a Dagster run and a CLI run all emit
lineage and metrics without a second command. (The Airflow operator turns lineage off here: Airflow's
OpenLineage listener emits the same facets for its task, see ``dpone_provider.lineage``.)

Publishing never fails a load: an error becomes a warning on the run's report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from dpone_core.errors import DponeError
from dpone_core.lineage.datasets import ProcessDatasets, process_datasets
from dpone_core.lineage.emitter import LineageEmitter
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.observability import Observability
from dpone_core.manifest.process import Process
from dpone_core.manifest.references import resolve_setting
from dpone_core.redaction import redact
from dpone_core.runtime.report import RunReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricsTarget:
    """Where a run's metrics go (all None: nowhere)."""

    directory: Path | None = None
    push_gateway: str | None = None
    otlp_endpoint: str | None = None
    job: str = "dpone"

    @property
    def wanted(self) -> bool:
        """Any destination is set."""
        return bool(self.directory or self.push_gateway or self.otlp_endpoint)


@dataclass
class RunPublication:
    """Lineage and metrics of one run: :meth:`started` before it, :meth:`finished` after."""

    process: Process
    datasets: ProcessDatasets | None
    emitter: LineageEmitter | None
    metrics: MetricsTarget
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def prepare(
        cls, loaded: LoadedManifest, process: Process, *, metrics_dir: str | Path | None, lineage: bool
    ) -> RunPublication:
        """Read the manifest's ``observability:`` block with the caller's overrides."""
        settings = loaded.manifest.observability
        warnings: list[str] = []
        try:
            metrics = _metrics_target(settings, metrics_dir, loaded.base_dir, process.name)
        except DponeError as exc:
            metrics, warnings = MetricsTarget(), [f"metrics not exported: {exc.info().one_line()}"]
        emitter = None
        datasets = None
        if lineage and settings.openlineage == "auto":
            emitter = LineageEmitter.from_environment(settings.openlineage_namespace)
            datasets = _datasets(loaded, process) if emitter is not None else None
        return cls(process, datasets, emitter if datasets is not None else None, metrics, warnings)

    def started(self, run_id: str) -> None:
        """Emit the START event."""
        if self.emitter is not None and self.datasets is not None:
            self.emitter.start(self.process, self.datasets, run_id)

    def finished(self, report: RunReport) -> RunReport:
        """Emit the final event and export metrics; the report gains a warning for anything not published."""
        if self.emitter is not None and self.datasets is not None:
            self.emitter.finish(self.process, self.datasets, report)
            if self.emitter.warning:
                self.warnings.append(self.emitter.warning)
        if self.metrics.wanted:
            self._export_metrics(report)
        if not self.warnings:
            return report
        result = report.result.model_copy(update={"warnings": [*report.result.warnings, *self.warnings]})
        return report.model_copy(update={"result": result})

    def _export_metrics(self, report: RunReport) -> None:
        from dpone_core.observability.export import export_run_metrics

        try:
            export_run_metrics(
                [report],
                output_dir=self.metrics.directory,
                push_gateway=self.metrics.push_gateway,
                otlp_endpoint=self.metrics.otlp_endpoint,
                job=self.metrics.job,
            )
        except DponeError as exc:
            self.warnings.append(f"metrics not exported: {exc.info().one_line()}")
        except Exception as exc:  # noqa: BLE001 - metrics must never fail a committed load
            text = redact(f"metrics not exported: {type(exc).__name__}: {exc}".splitlines()[0])
            log.warning(text)
            self.warnings.append(text)


def _datasets(loaded: LoadedManifest, process: Process) -> ProcessDatasets | None:
    try:
        return process_datasets(loaded, process)
    except Exception as exc:  # noqa: BLE001 - a dataset name that cannot be computed only costs lineage
        log.warning("OpenLineage: datasets of %s not named (%s); no events sent", process.name, exc)
        return None


def _metrics_target(
    settings: Observability, metrics_dir: str | Path | None, base_dir: Path, process: str
) -> MetricsTarget:
    """The metrics destinations: ``metrics_dir`` (a run option) wins over the manifest's."""
    chosen = str(metrics_dir) if metrics_dir is not None else settings.metrics_dir
    directory = None
    if chosen:
        path = Path(resolve_setting(chosen, "observability.metrics_dir", base_dir))
        directory = (path if path.is_absolute() else base_dir / path) / process
    return MetricsTarget(
        directory,
        _secret_setting(settings.push_gateway, "observability.push_gateway", base_dir),
        _secret_setting(settings.otlp_endpoint, "observability.otlp_endpoint", base_dir),
        settings.job,
    )


def _secret_setting(value: str | None, key: str, base_dir: Path) -> str | None:
    """A URL that may carry credentials: resolved as a secret, so logs and reports redact it."""
    return resolve_setting(value, key, base_dir, secret=True) if value is not None else None
