"""``dpone orchestrate run`` and ``dpone orchestrate stage``: thin adapters over :mod:`dpone_core.orchestration`."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from dpone_core.cli.options import format_option, registry_option


@click.group("orchestrate")
def orchestrate() -> None:
    """Run loads outside a scheduler: locks, durable job state, resume policy, many processes at once."""


@orchestrate.command("run")
@click.option("--manifest", "manifest", required=True, type=click.Path(dir_okay=False), help="Manifest file.")
@click.option("--selector", "-s", help="Process name, selector alias or tag:x (must pick one process).")
@click.option("--run-id", help="Stable key of the logical run (one per scheduled date); state and idempotency key.")
@registry_option
@click.option("--retry-attempts", type=click.IntRange(0, 20), help="Retries after the first attempt (transient only).")
@click.option("--retry-backoff-seconds", type=click.FloatRange(0), help="Seconds between attempts.")
@click.option("--concurrency-key", help="Lock key; defaults to '<manifest stem>.<selector>'.")
@click.option("--lock-dir", default=".dpone/locks", show_default=True, type=click.Path(file_okay=False))
@click.option("--lock-ttl-seconds", default=3600.0, show_default=True, type=click.FloatRange(min=0.1),
              help="A lock whose heartbeat is older than this is stale (the holder refreshes it while running).")
@click.option("--state-dir", default=".dpone/orchestration-state", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume-policy", type=click.Choice(["fail", "resume", "restart"]), default="fail", show_default=True,
              help="What to do when the run id already has a failed, blocked or committed state.")
@click.option("--output-dir", type=click.Path(file_okay=False),
              help="Where orchestrated_run.json/.md go (default .dpone/orchestration/<run-id>).")
@format_option
def run_command(
    manifest: str,
    selector: str | None,
    run_id: str | None,
    registry: tuple[str, ...],
    retry_attempts: int | None,
    retry_backoff_seconds: float | None,
    concurrency_key: str | None,
    lock_dir: str,
    lock_ttl_seconds: float,
    state_dir: str,
    resume_policy: str,
    output_dir: str | None,
    output_format: str,
) -> None:
    """Run one process under a local lock and a durable job state. Exit codes as `dpone run`."""
    from dpone_core.cli.progress import RichProgress
    from dpone_core.orchestration import (
        LocalJobStateStore,
        LocalRunLockManager,
        OrchestratedRunRequest,
        OrchestratedRunService,
    )

    request = OrchestratedRunRequest(
        manifest_path=manifest,
        selector=selector,
        run_id=run_id,
        registry_paths=registry,
        retry_attempts=retry_attempts,
        retry_backoff_seconds=retry_backoff_seconds,
        concurrency_key=concurrency_key,
        resume_policy=resume_policy,  # type: ignore[arg-type]
    )
    service = OrchestratedRunService(LocalRunLockManager(lock_dir, lock_ttl_seconds), LocalJobStateStore(state_dir))
    console = Console(stderr=True)
    if output_format == "text" and console.is_terminal:
        with RichProgress(console) as progress:
            report = service.run(request, output_dir, on_event=progress)
    else:
        report = service.run(request, output_dir)
    if output_format == "json":
        click.echo(report.to_json())
    elif output_format == "markdown":
        click.echo(report.to_markdown())
    else:
        click.echo(report.to_text())
    sys.exit(report.exit_code)
