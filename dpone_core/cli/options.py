"""Options shared by several commands."""

from __future__ import annotations

import click

registry_option = click.option(
    "--registry",
    "registry",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Registry file with shared connections/defaults (repeatable; later files win).",
)
retry_attempts_option = click.option(
    "--retry-attempts", type=click.IntRange(0, 20), help="Retries after the first attempt (transient errors only)."
)
retry_backoff_option = click.option(
    "--retry-backoff-seconds", type=click.FloatRange(0), help="Seconds between attempts."
)
format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output format; json prints only the report (no progress).",
)
