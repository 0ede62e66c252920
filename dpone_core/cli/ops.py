"""``dpone ops``: evidence and checks around loads; these commands never write to a target."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from dpone_core.cli.options import registry_option
from dpone_core.errors import DponeError


@click.group("ops")
def ops() -> None:
    """Validate and document loads (evidence, checks); nothing here writes to a target."""


@ops.command("staging-evidence")
@click.option(
    "--manifest",
    "manifest_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Staging manifest: JSON with objects [{uri, size_bytes, sha256}] (a load's evidence JSON is one).",
)
@click.option(
    "--sink", type=click.Choice(["duckdb", "clickhouse", "postgres"]), help="Target system, for the load hint."
)
@click.option("--target-table", help="Target table, for the load hint.")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write staging_evidence.json and staging_evidence.md here.",
)
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def staging_evidence(
    manifest_path: Path, sink: str | None, target_table: str | None, output_dir: Path | None, output_format: str
) -> None:
    """Check a staging manifest before a target loads it; exit 1 when any check fails."""
    from dpone_core.ops.staging_evidence import check_staging, write_evidence

    try:
        evidence = check_staging(manifest_path, sink, target_table)
        written = write_evidence(evidence, output_dir) if output_dir is not None else []
    except DponeError as exc:
        click.echo(f"error: {exc.info().one_line()}", err=True)
        sys.exit(2)
    if output_format == "json":
        click.echo(json.dumps({**evidence.to_dict(), "written": [str(p) for p in written]}, indent=2))
    else:
        for check in evidence.checks:
            click.echo(f"{'ok ' if check.passed else 'BAD'} {check.name}: {check.detail}")
        click.echo(f"load hint: {evidence.load_hint}")
        for path in written:
            click.echo(f"wrote {path}")
        click.echo("PASSED" if evidence.passed else "FAILED")
    sys.exit(0 if evidence.passed else 1)


@ops.command("committed-files")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--selector", "-s", required=True, help="The process whose table to list.")
@registry_option
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def committed_files(manifest: str, selector: str, registry: tuple[str, ...], output_format: str) -> None:
    """Print the data files of a file or Delta table's committed version, one URI a line."""
    from dpone_core.api import committed_files as listed

    try:
        files = listed(manifest, selector, registry)
    except DponeError as exc:
        click.echo(f"error: {exc.info().one_line()}", err=True)
        sys.exit(2)
    click.echo(json.dumps(files, indent=2) if output_format == "json" else "\n".join(files))


# Each area's commands register themselves on `ops` (one module per area, thin adapters over dpone_core.ops).
from dpone_core.cli import (  # noqa: E402, F401
    ops_catalog,
    ops_deploy,
    ops_observability,
    ops_packs,
    ops_reconcile,
    ops_recovery,
    ops_runs,
)
