"""``dpone`` command line: thin click adapters over :mod:`dpone_core.api`; exit codes in one place."""

from __future__ import annotations

import sys

import click

from dpone_core.cli.doctor import doctor
from dpone_core.cli.manifest import manifest
from dpone_core.cli.orchestrate import orchestrate
from dpone_core.cli.run import plan_command, run_command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dpone", prog_name="dpone")
def cli() -> None:
    """dpone: fast, provably correct table loads with contracts, evidence and exactly-once state."""


cli.add_command(run_command)
cli.add_command(plan_command)
cli.add_command(manifest)
cli.add_command(doctor)
cli.add_command(orchestrate)


def main() -> None:
    """Console-script entry point; Ctrl-C outside a run exits 130 without a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    sys.exit(0)


if __name__ == "__main__":
    main()
