"""``dpone observability``: a thin adapter over :mod:`dpone_core.observability.export`.

``metrics-export`` reads a run result with :func:`dpone_core.ops.run_registry.run_reports` (the
parser ``dpone ops run-registry`` uses) and exports one set of samples per process. Exit 0 when
everything was written and sent, 1 when a Pushgateway or OTLP collector could not be reached
(the files are still written), 2 when the input cannot be read or an extra is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dpone_core.cli.ops_output import FORMAT_OPTION, bad_input, finish
from dpone_core.errors import ConfigurationError, DponeError
from dpone_core.ops.artifacts import OpsReport

if TYPE_CHECKING:
    from dpone_core.observability.export import MetricsExport

__all__ = ["observability"]

STEP = "metrics-export"
DEFAULT_DIR = Path(".dpone/metrics")


@click.group("observability")
def observability() -> None:
    """Runtime metrics of dpone runs: Prometheus files, a Pushgateway, an OpenTelemetry collector."""


@observability.command("metrics-export")
@click.option(
    "--run-report",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A run's result: dpone run / orchestrate run --format json, orchestrated_run.json or an Airflow XCom value.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Write runtime_metrics.json and .prom here (default {DEFAULT_DIR} when nothing is pushed).",
)
@click.option("--push-gateway", metavar="URL", help="Also push to this Prometheus Pushgateway (job, process).")
@click.option(
    "--otlp-endpoint", metavar="URL", help="Also export over OTLP/HTTP (e.g. http://collector:4318/v1/metrics)."
)
@click.option("--job", default="dpone", show_default=True, help="Pushgateway job label and OpenTelemetry service name.")
@FORMAT_OPTION
def metrics_export(
    run_report: Path,
    output_dir: Path | None,
    push_gateway: str | None,
    otlp_endpoint: str | None,
    job: str,
    output_format: str,
) -> None:
    """Export a run's metrics (names from the catalogue, one label set per process)."""
    from dpone_core.observability.export import export_run_metrics
    from dpone_core.ops.run_registry import run_reports

    if output_dir is None and not push_gateway and not otlp_endpoint:
        output_dir = DEFAULT_DIR
    try:
        reports = run_reports(run_report, STEP, "--run-report")
        done = export_run_metrics(
            reports,
            output_dir=output_dir,
            push_gateway=push_gateway,
            otlp_endpoint=otlp_endpoint,
            job=job,
            source=run_report,
        )
    except ConfigurationError as exc:
        bad_input(exc)
    except DponeError as exc:  # a Pushgateway or collector that cannot be reached
        click.echo(f"error: {exc.info().one_line()}", err=True)
        sys.exit(1)
    report = _report(run_report, done)
    finish(report, output_format, None, _text)


def _report(run_report: Path, done: MetricsExport) -> OpsReport:
    """The command's result: each run exported, the files written and the URLs sent to."""
    runs = [
        {"process": r.process, "run_id": r.run_id, "status": r.status, "passed": r.passed, "samples": len(r.samples)}
        for r in done.runs
    ]
    payload = {"run_report": str(run_report), "runs": runs, "files": [str(p) for p in done.written]}
    return OpsReport("metrics_export", {**payload, "pushed": list(done.pushed)})


def _text(report: OpsReport) -> list[str]:
    """One line per run, then every file written and URL sent to."""
    data = report.payload
    lines = [f"{r['process']} run {r['run_id']}: {r['status']}, {r['samples']} samples" for r in data["runs"]]
    return lines + [f"wrote {path}" for path in data["files"]] + [f"pushed {url}" for url in data["pushed"]]
