"""Options shared by several commands."""

from __future__ import annotations

import math

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


class _Seconds(click.ParamType):
    """A finite, non-negative number of seconds (``nan`` and ``inf`` are refused)."""

    name = "seconds"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r} is not a finite number of seconds >= 0", param, ctx)
        return seconds


retry_backoff_seconds_option = click.option(
    "--retry-backoff-seconds",
    type=_Seconds(),
    help="Wait before the first retry; later waits follow --retry-backoff.",
)
retry_backoff_option = click.option(
    "--retry-backoff",
    type=click.Choice(["exponential", "fixed"]),
    help="exponential: each wait doubles (capped at 32x the first); fixed: every wait is --retry-backoff-seconds. "
    "Default: the manifest's retry.backoff (exponential).",
)
format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output format; json prints only the report (no progress).",
)
