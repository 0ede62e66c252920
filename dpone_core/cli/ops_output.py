"""How every ``dpone ops`` command ends: text or JSON on stdout, exit 0 green, 1 red, 2 bad input."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import NoReturn

import click

from dpone_core.errors import DponeError
from dpone_core.ops.artifacts import OpsReport, WrittenReport


def finish(
    report: OpsReport,
    output_format: str,
    written: WrittenReport | None,
    text_lines: Callable[[OpsReport], list[str]] | None = None,
) -> NoReturn:
    """Print the report (JSON: the document plus ``written``; text: ``text_lines`` and the verdict) and exit."""
    if output_format == "json":
        document = {**report.to_dict(), "written": written.paths() if written else []}
        click.echo(json.dumps(document, indent=2, default=str))
    else:
        for line in text_lines(report) if text_lines else []:
            click.echo(line)
        for blocker in report.blockers:
            click.echo(f"BLOCKER {blocker}")
        for path in written.paths() if written else []:
            click.echo(f"wrote {path}")
        click.echo("GREEN" if report.passed else "RED")
    sys.exit(0 if report.passed else 1)


def bad_input(exc: DponeError) -> NoReturn:
    """A configuration or input error: one line on stderr, exit 2."""
    click.echo(f"error: {exc.info().one_line()}", err=True)
    sys.exit(2)


FORMAT_OPTION = click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
"""The ``--format`` option of every ops command."""
