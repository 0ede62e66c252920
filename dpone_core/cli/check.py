"""``dpone check``: re-verify a loaded table against its contract and audit rows."""

from __future__ import annotations

import click

from dpone_core.cli.arrow import pyarrow_without_pandas
from dpone_core.cli.options import format_option, registry_option
from dpone_core.cli.output import emit


@click.command("check")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--selector", "-s", help="Process name, selector alias or tag:x (must pick one process).")
@registry_option
@click.option("--partition", help="Check one partition key's slice of the target.")
@click.option("--max-age", help="Fail when the newest committed load is older than this (90s, 30m, 6h, 2d, 1w).")
@format_option
def check_command(
    manifest: str,
    selector: str | None,
    registry: tuple[str, ...],
    partition: str | None,
    max_age: str | None,
    output_format: str,
) -> None:
    """Check a process's target table now: contract rules, audit row count, freshness (read-only).

    Works on tables other tools write (the audit checks are then skipped). Exit 0 every check
    passed, 1 a check failed, 2 configuration error.
    """
    from dpone_core.api import check

    pyarrow_without_pandas()

    emit(check(manifest, selector, partition=partition, max_age=max_age, registry_paths=registry), output_format)
