"""Printing reports in the chosen format and exiting with their code: one place for every command."""

from __future__ import annotations

import sys
from typing import Protocol

import click


class PrintableReport(Protocol):
    """Anything with the three renderings and an exit code (RunReport, orchestrated run reports)."""

    @property
    def exit_code(self) -> int:
        """Process exit code for this report."""
        ...

    def to_json(self) -> str:
        """JSON rendering."""
        ...

    def to_markdown(self) -> str:
        """Markdown rendering."""
        ...

    def to_text(self) -> str:
        """Plain text rendering."""
        ...


def emit(report: PrintableReport, fmt: str) -> None:
    """Print ``report`` as text, json or markdown, then exit with its code."""
    if fmt == "json":
        click.echo(report.to_json())
    elif fmt == "markdown":
        click.echo(report.to_markdown())
    else:
        click.echo(report.to_text())
    sys.exit(report.exit_code)
