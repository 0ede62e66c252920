"""``dpone run`` and ``dpone plan``."""

from __future__ import annotations

import sys

import click

from dpone_core.cli.arrow import pyarrow_without_pandas
from dpone_core.cli.options import (
    format_option,
    registry_option,
    retry_attempts_option,
    retry_backoff_option,
    retry_backoff_seconds_option,
)
from dpone_core.cli.output import emit


@click.command("run")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--selector", "-s", help="Process name, selector alias or tag:x (must pick one process).")
@click.option("--run-id", help="Idempotency key: a committed run id is not loaded again (see --restart).")
@registry_option
@retry_attempts_option
@retry_backoff_seconds_option
@retry_backoff_option
@click.option("--restart", is_flag=True, help="Run again even if --run-id already committed.")
@click.option("--partition", help="Load one partition key of the process's partitions block.")
@click.option(
    "--phase",
    type=click.Choice(["load", "extract", "finalize"]),
    default="load",
    show_default=True,
    help="A chunked load: extract parks --partition's rows; finalize commits every parked chunk of --run-id.",
)
@click.option("--chunks", help="Finalize: the comma-separated partition keys to commit (default: every value/range).")
@click.option("--dry-run", is_flag=True, help="Decide gates and DDL; read and write no rows.")
@click.option(
    "--metrics-dir",
    type=click.Path(file_okay=False),
    help="Write runtime_metrics.json and .prom under DIR/<process>/ after the run (overrides observability:).",
)
@format_option
def run_command(
    manifest: str,
    selector: str | None,
    run_id: str | None,
    registry: tuple[str, ...],
    retry_attempts: int | None,
    retry_backoff_seconds: float | None,
    retry_backoff: str | None,
    restart: bool,
    partition: str | None,
    phase: str,
    chunks: str | None,
    dry_run: bool,
    metrics_dir: str | None,
    output_format: str,
) -> None:
    """Run one process of MANIFEST. Exit 0 passed, 1 failed, 2 manifest/configuration error, 130 interrupted."""
    from dpone_core.api import run

    pyarrow_without_pandas()

    console = None
    if output_format == "text":
        # rich (~20 ms of imports) only when there is a terminal to draw progress on.
        from dpone_core.cli.progress import terminal_console

        console = terminal_console()
    kwargs = dict(
        selector=selector,
        run_id=run_id,
        registry_paths=registry,
        retry_attempts=retry_attempts,
        retry_backoff_seconds=retry_backoff_seconds,
        retry_backoff=retry_backoff,
        restart=restart,
        dry_run=dry_run,
        partition=partition,
        phase=phase,
        chunks=[c.strip() for c in chunks.split(",") if c.strip()] if chunks is not None else None,
        metrics_dir=metrics_dir,
    )
    try:
        if console is not None:
            from dpone_core.cli.progress import RichProgress

            with RichProgress(console) as progress:
                report = run(manifest, on_event=progress, **kwargs)  # type: ignore[arg-type]
        else:
            report = run(manifest, **kwargs)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        click.echo("interrupted: the open transaction was rolled back; state was not advanced", err=True)
        sys.exit(130)
    emit(report, output_format)


@click.command("plan")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--selector", "-s", help="Process to plan (needed when the manifest has several).")
@registry_option
@format_option
def plan_command(manifest: str, selector: str | None, registry: tuple[str, ...], output_format: str) -> None:
    """Show source, sink, strategy, staging and the DDL a run would apply, without moving rows."""
    from dpone_core.api import plan

    pyarrow_without_pandas()
    from dpone_core.connectors.sql.sink import staging_name

    report = plan(manifest, selector, registry)
    if output_format != "text" or not report.passed:
        emit(report, output_format)
    r = report.result
    lines = [
        f"process:  {report.process}",
        f"source:   {r.source}",
        f"sink:     {r.target}",
        f"strategy: {report.strategy}",
        f"staging:  {staging_name(report.process or '', '<load_id>')}",
        f"state:    {r.state_before}",
        "ddl:" + ("" if r.ddl else "      none (target matches)"),
        *[f"  {statement};" for statement in r.ddl],
    ]
    lines += [f"gate:     {g.gate}/{g.rule} {g.verdict} {g.detail}" for g in r.gates]
    click.echo("\n".join(lines))
    sys.exit(0)
