"""``dpone ops run-registry`` and ``dpone ops runs``: thin adapters over :mod:`dpone_core.ops.run_registry`
and :mod:`dpone_core.ops.runs` (registered on the ``ops`` group when imported)."""

from __future__ import annotations

from pathlib import Path

import click

from dpone_core.cli.ops import ops
from dpone_core.cli.ops_output import FORMAT_OPTION, bad_input, finish
from dpone_core.cli.options import registry_option
from dpone_core.errors import ConfigurationError, DponeError

__all__ = ["ops"]


@ops.command("run-registry")
@click.option(
    "--run-result",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A run's result: dpone run / orchestrate run --format json, an Airflow XCom value or Dagster metadata (JSON).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".dpone/run-registry"),
    show_default=True,
    help="Write <run_id>__run_registry.json and .md here.",
)
@click.option(
    "--verify",
    "entry",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Instead: re-check a written entry's artifacts against the sha256 it recorded.",
)
@FORMAT_OPTION
def run_registry(run_result: Path | None, output_dir: Path, entry: Path | None, output_format: str) -> None:
    """Record a run's result and the artifacts it names, with sha256; exit 1 when the run was red or an
    artifact is missing or changed, 2 when the input cannot be read."""
    from dpone_core.ops import run_registry as registry

    try:
        if (run_result is None) == (entry is None):
            raise ConfigurationError(
                "give either --run-result or --verify",
                step="run-registry",
                fix="dpone ops run-registry --run-result r.json",
            )
        if entry is not None:
            finish(registry.verify_entry(entry), output_format, None, registry.text_lines)
        assert run_result is not None
        report, written = registry.register_run(run_result, output_dir)
    except DponeError as exc:
        bad_input(exc)
    finish(report, output_format, written, registry.text_lines)


@ops.command("runs")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--selector", "-s", help="Only these processes (name, tag:x, +name, name+).")
@click.option(
    "--since", help="Only runs that finished after: a date (2026-01-01), an ISO time, or a duration (24h, 7d)."
)
@click.option(
    "--status", type=click.Choice(["committed", "failed", "blocked", "running", "started"]), help="Only this status."
)
@click.option("--run-id", help="Show this run (every load of it).")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    help="Also list runs that did not commit, from dpone orchestrate run's job states here.",
)
@click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), help="Also write runs.json and runs.md."
)
@registry_option
@FORMAT_OPTION
def runs(
    manifest: str,
    selector: str | None,
    since: str | None,
    status: str | None,
    run_id: str | None,
    state_dir: str | None,
    output_dir: Path | None,
    registry: tuple[str, ...],
    output_format: str,
) -> None:
    """List the runs of a manifest's processes from the sinks' audit tables (read-only), newest first."""
    from dpone_core.ops.artifacts import write_report
    from dpone_core.ops.runs import RunsQuery, list_runs, parse_since, text_lines, to_markdown

    try:
        query = RunsQuery(
            manifest, selector, parse_since(since) if since else None, status, run_id, state_dir, registry
        )
        report = list_runs(query)
        written = write_report(report, output_dir, "runs", to_markdown(report)) if output_dir else None
    except DponeError as exc:
        bad_input(exc)
    finish(report, output_format, written, text_lines)
