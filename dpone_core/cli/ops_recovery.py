"""``dpone ops recovery-plan``: a thin adapter over :mod:`dpone_core.ops.recovery_plan`
(registered on the ``ops`` group when imported)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dpone_core.cli.ops import ops
from dpone_core.cli.ops_output import FORMAT_OPTION, bad_input, finish
from dpone_core.cli.options import registry_option
from dpone_core.errors import DponeError

__all__ = ["ops"]


@ops.command("recovery-plan")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False),
    help="Also inspect this manifest's sinks (staging, publishes, quarantine); only its job states are read.",
)
@click.option("--selector", "-s", help="Only these processes of the manifest.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=".dpone/orchestration-state",
    show_default=True,
    help="dpone orchestrate run's job states.",
)
@click.option(
    "--lock-dir", type=click.Path(file_okay=False), default=".dpone/locks", show_default=True, help="Its lock files."
)
@click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), help="Write recovery_plan.json and .md here."
)
@click.option("--apply", is_flag=True, help="Perform the safe actions (needs --yes): stale locks, staging, quarantine.")
@click.option("--yes", is_flag=True, help="Confirm --apply.")
@registry_option
@FORMAT_OPTION
def recovery_plan(
    manifest: str | None,
    selector: str | None,
    state_dir: str,
    lock_dir: str,
    output_dir: Path | None,
    apply: bool,
    yes: bool,
    registry: tuple[str, ...],
    output_format: str,
) -> None:
    """Plan what to do after an interrupted run (nothing changes unless --apply --yes); exit 1 while
    anything is left to do, 2 on bad input."""
    from dpone_core.ops.artifacts import write_report
    from dpone_core.ops.recovery_plan import RecoveryRequest, apply_plan, build_plan, text_lines, to_markdown

    if apply and not yes:
        click.echo("error: --apply removes stale locks, staging and quarantine files: add --yes to do it", err=True)
        sys.exit(2)
    request = RecoveryRequest(manifest, state_dir, lock_dir, selector, registry)
    try:
        report = apply_plan(request) if apply else build_plan(request)
        written = write_report(report, output_dir, "recovery_plan", to_markdown(report)) if output_dir else None
    except DponeError as exc:
        bad_input(exc)
    finish(report, output_format, written, text_lines)
