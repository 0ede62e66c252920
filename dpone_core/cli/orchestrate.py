"""``dpone orchestrate run`` and ``dpone orchestrate stage``: thin adapters over :mod:`dpone_core.orchestration`."""

from __future__ import annotations

import sys
from typing import Any

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


@click.group("orchestrate")
def orchestrate() -> None:
    """Run loads outside a scheduler: locks, durable job state, resume policy, many processes at once."""


@orchestrate.command("run")
@click.option("--manifest", "manifest", required=True, type=click.Path(dir_okay=False), help="Manifest file.")
@click.option("--selector", "-s", help="Process name, selector alias or tag:x (must pick one process).")
@click.option("--run-id", help="Stable key of the logical run (one per scheduled date); state and idempotency key.")
@registry_option
@retry_attempts_option
@retry_backoff_seconds_option
@retry_backoff_option
@click.option("--concurrency-key", help="Lock key; defaults to '<manifest stem>.<selector>'.")
@click.option("--lock-dir", default=".dpone/locks", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--lock-ttl-seconds",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="A lock whose heartbeat is older than this is stale (the holder refreshes it while running).",
)
@click.option("--state-dir", default=".dpone/orchestration-state", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--resume-policy",
    type=click.Choice(["fail", "resume", "restart"]),
    default="fail",
    show_default=True,
    help="What to do when the run id already has a failed, blocked or committed state.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Where orchestrated_run.json/.md go (default .dpone/orchestration/<run-id>).",
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
    concurrency_key: str | None,
    lock_dir: str,
    lock_ttl_seconds: float,
    state_dir: str,
    resume_policy: str,
    output_dir: str | None,
    output_format: str,
) -> None:
    """Run one process under a local lock and a durable job state. Exit codes as `dpone run`."""
    from dpone_core.orchestration import (
        LocalJobStateStore,
        LocalRunLockManager,
        OrchestratedRunRequest,
        OrchestratedRunService,
    )

    pyarrow_without_pandas()

    request = OrchestratedRunRequest(
        manifest_path=manifest,
        selector=selector,
        run_id=run_id,
        registry_paths=registry,
        retry_attempts=retry_attempts,
        retry_backoff_seconds=retry_backoff_seconds,
        retry_backoff=retry_backoff,
        concurrency_key=concurrency_key,
        resume_policy=resume_policy,  # type: ignore[arg-type]
    )
    service = OrchestratedRunService(LocalRunLockManager(lock_dir, lock_ttl_seconds), LocalJobStateStore(state_dir))
    console = None
    if output_format == "text":
        from dpone_core.cli.progress import RichProgress, terminal_console  # rich only for a terminal

        console = terminal_console()
    if console is not None:
        with RichProgress(console) as progress:
            report = service.run(request, output_dir, on_event=progress)
    else:
        report = service.run(request, output_dir)
    emit(report, output_format)


@orchestrate.command("stage")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--selector", "-s", help="Selector (name, tag:x, +name, name+); default: every process.")
@click.option("--stage", "stages", multiple=True, help="Only processes tagged with this stage (repeatable).")
@registry_option
@click.option("--job-id", help="Job key; a re-run with the same job id skips processes it already committed.")
@click.option("--max-workers", default=4, show_default=True, type=click.IntRange(1, 256), help="Parallel threads.")
@click.option("--job-num", default=1, show_default=True, type=click.IntRange(1), help="Number of shards (workers).")
@click.option(
    "--job-index", default=0, show_default=True, type=click.IntRange(0), help="This worker's shard (0-based)."
)
@click.option("--dry-run", is_flag=True, help="Print the plan; read and write nothing.")
@click.option("--stop-on-error", is_flag=True, help="Start no new process after the first failure.")
@click.option(
    "--retry-policy",
    type=click.Choice(["none", "fixed", "backoff"]),
    help="Override every process's retry block (default: the manifest's).",
)
@click.option(
    "--retry-max-attempts",
    default=3,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Attempts including the first (fixed/backoff).",
)
@click.option(
    "--retry-wait-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Wait between attempts (fixed) or the minimum wait (backoff).",
)
@click.option(
    "--retry-max-wait-seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Longest wait of the backoff policy.",
)
@click.option(
    "--retry-steps",
    multiple=True,
    type=click.Choice(["connect", "extract", "load"]),
    help="Retry only failures in these steps (repeatable; default all). Terminal errors never retry.",
)
@click.option("--replay-start", help="First partition key to replay (e.g. 2024-01); needs --replay-end.")
@click.option("--replay-end", help="Last partition key to replay, included.")
@click.option("--restart", is_flag=True, help="Load again even where the job id already committed.")
@click.option("--maintenance", is_flag=True, help="After the job: CHECKPOINT DuckDB, ANALYZE Postgres, ...")
@click.option(
    "--column-name-mode",
    type=click.Choice(["as_is", "lower", "snake"]),
    help="Override every process's source.column_names (normalise column names).",
)
@click.option("--trace", "store_trace", is_flag=True, help="Load one row per attempt into <pipeline>_trace.")
@click.option("--trace-connection", help="Connection that receives the trace (default: the first sink).")
@click.option("--pipeline-name", help="Name of the job's pipeline (default: the manifest's file name).")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Also write execution_result.json/.md here.")
@format_option
def stage_command(
    manifest: str,
    selector: str | None,
    stages: tuple[str, ...],
    registry: tuple[str, ...],
    job_id: str | None,
    max_workers: int,
    job_num: int,
    job_index: int,
    dry_run: bool,
    stop_on_error: bool,
    retry_policy: str | None,
    retry_max_attempts: int,
    retry_wait_seconds: float,
    retry_max_wait_seconds: float,
    retry_steps: tuple[str, ...],
    replay_start: str | None,
    replay_end: str | None,
    restart: bool,
    maintenance: bool,
    column_name_mode: str | None,
    store_trace: bool,
    trace_connection: str | None,
    pipeline_name: str | None,
    output_dir: str | None,
    output_format: str,
) -> None:
    """Run many processes of MANIFEST as one job: order, parallel threads, shards, retries, replay, trace."""
    from pathlib import Path

    from dpone_core.cli.progress import terminal_console
    from dpone_core.errors import DponeError, exit_code_for
    from dpone_core.orchestration.dataflow import DataflowRunner, RunConfig
    from dpone_core.orchestration.live import LiveJobTable
    from dpone_core.orchestration.replay import ReplayRange
    from dpone_core.orchestration.retry import ALL_STEPS, RetryPolicy

    if (replay_start is None) != (replay_end is None):
        raise click.UsageError("--replay-start and --replay-end go together")
    if job_index >= job_num:
        raise click.UsageError(f"--job-index must be below --job-num ({job_num})")
    steps = tuple(retry_steps) or ALL_STEPS
    policy = None
    if retry_policy is not None:
        options: dict[str, Any] = {"steps": steps}
        if retry_policy == "fixed":
            options.update(max_attempts=retry_max_attempts, wait_seconds=retry_wait_seconds)
        elif retry_policy == "backoff":
            options.update(
                max_attempts=retry_max_attempts, min_seconds=retry_wait_seconds, max_seconds=retry_max_wait_seconds
            )
        policy = RetryPolicy.parse(retry_policy, **options)
    config = RunConfig(
        job_id=job_id,
        job_num=job_num,
        job_index=job_index,
        max_workers=max_workers,
        stop_on_error=stop_on_error,
        dry_run=dry_run,
        retry=policy,
        retry_steps=steps,  # type: ignore[arg-type]
        restart=restart,
        store_trace=store_trace,
        trace_connection=trace_connection,
        pipeline_name=pipeline_name,
        maintenance=maintenance,
        column_name_mode=column_name_mode,
    )
    replay = ReplayRange(replay_start, replay_end) if replay_start and replay_end else None
    console = terminal_console() if output_format == "text" and not dry_run else None
    try:
        runner = DataflowRunner(manifest, config, registry)
        plan = runner.plan(selector, stages, replay)
    except DponeError as exc:
        click.echo(exc.info().one_line(), err=True)
        sys.exit(exit_code_for(exc))
    if console is not None:
        table = LiveJobTable(console, plan)
        runner.callbacks = table
        with table:
            result = runner.execute(plan, on_event=table.on_event)
    else:
        result = runner.execute(plan)
    if output_dir:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "execution_result.json").write_text(result.to_json(), encoding="utf-8")
        (out / "execution_result.md").write_text(result.to_markdown(), encoding="utf-8")
    if output_format == "json":
        click.echo(result.to_json())
    elif output_format == "markdown":
        click.echo(result.to_markdown())
    else:
        click.echo(result.to_text())
    sys.exit(result.exit_code)
