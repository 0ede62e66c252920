"""``dpone ops observability-pack``: a thin adapter over :mod:`dpone_core.ops.observability_pack`."""

from __future__ import annotations

from pathlib import Path

import click

from dpone_core.cli.ops import ops
from dpone_core.cli.ops_output import FORMAT_OPTION, bad_input, finish
from dpone_core.errors import DponeError
from dpone_core.ops.artifacts import OpsReport

__all__ = ["observability_pack"]


def _text(report: OpsReport) -> list[str]:
    """One line per generated file (name and sha256), then one per alert rule."""
    data = report.to_dict()
    lines = [f"file {f['name']} sha256 {f['sha256']}" for f in data["files"]]
    return lines + [f"alert {a['alert']}: {a['expr']}" for a in data["alerts"]]


@ops.command("observability-pack")
@click.option(
    "--output-dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Write the pack here."
)
@click.option("--service-name", default="dpone", show_default=True, help="Tags the dashboard and labels the alerts.")
@click.option("--dashboard-title", default="", help="The Grafana dashboard's title (default: '<service> runtime').")
@click.option(
    "--process", "processes", multiple=True, metavar="NAME", help="Preselect in the dashboard; scope the alerts."
)
@click.option(
    "--alert",
    "alerts",
    multiple=True,
    metavar="METRIC.min=V|METRIC.max=V",
    help="A threshold rule: fires when METRIC is below min / above max (repeatable).",
)
@click.option("--datasource-uid", help="The Prometheus data source preselected in the dashboard.")
@click.option(
    "--stale-after",
    type=click.IntRange(min=0),
    default=26 * 3600,
    show_default=True,
    help="Seconds without a finished run before DponeRunStale fires (0: no staleness alert).",
)
@FORMAT_OPTION
def observability_pack(
    output_dir: Path,
    service_name: str,
    dashboard_title: str,
    processes: tuple[str, ...],
    alerts: tuple[str, ...],
    datasource_uid: str | None,
    stale_after: int,
    output_format: str,
) -> None:
    """Write grafana_dashboard.json, prometheus_alerts.yml and observability_pack.json/.md."""
    from dpone_core.ops import observability_pack as module

    try:
        options = module.PackOptions(
            service_name=service_name,
            dashboard_title=dashboard_title,
            processes=list(processes),
            thresholds=[module.Threshold.parse(text) for text in alerts],
            datasource_uid=datasource_uid,
            stale_after_seconds=stale_after,
        )
        pack = module.observability_pack(options)
        written = module.write_pack(pack, output_dir)
    except DponeError as exc:
        bad_input(exc)
    finish(pack.report, output_format, written, _text)
