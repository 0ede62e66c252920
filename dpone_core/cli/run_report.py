"""``dpone run-report``: a thin adapter over :func:`dpone_core.ops.run_report.run_report`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dpone_core.cli.ops_output import bad_input
from dpone_core.cli.options import registry_option
from dpone_core.errors import DponeError


@click.command("run-report")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--selector", "-s", "--pipeline", "selector", help="The process (must pick one).")
@click.option("--run-id", required=True, help="The committed run id to report.")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write <run_id>__run_result.json (the shape of dpone run --format json) and .md here.",
)
@registry_option
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True
)
def run_report(
    manifest: str,
    selector: str | None,
    run_id: str,
    output_dir: Path | None,
    registry: tuple[str, ...],
    output_format: str,
) -> None:
    """Write a committed run's report from its audit row and evidence; exit 1 when the run id never
    committed or its evidence does not match the audit row, 2 on bad input."""
    from dpone_core.ops.run_report import run_report as rebuild

    try:
        rebuilt = rebuild(manifest, selector, run_id, output_dir, registry)
    except DponeError as exc:
        bad_input(exc)
    report = rebuilt.report
    if report is None:
        for blocker in rebuilt.blockers:
            click.echo(f"error: {blocker}", err=True)
        sys.exit(1)
    rendered = {"json": report.to_json, "markdown": report.to_markdown, "text": report.to_text}[output_format]()
    click.echo(rendered.rstrip("\n"))
    if output_format == "text":
        for path in rebuilt.written:
            click.echo(f"wrote {path}")
    for blocker in rebuilt.blockers:
        click.echo(f"BLOCKER {blocker}", err=True)
    sys.exit(0 if rebuilt.passed else 1)
