"""``dpone`` command line: thin click adapters over :mod:`dpone_core.api`; exit codes in one place."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn

import click

from dpone_core.cli.check import check_command
from dpone_core.cli.doctor import doctor
from dpone_core.cli.logs import configure_cli_logging
from dpone_core.cli.manifest import manifest
from dpone_core.cli.observability import observability
from dpone_core.cli.ops import ops
from dpone_core.cli.orchestrate import orchestrate
from dpone_core.cli.run import plan_command, run_command
from dpone_core.cli.run_report import run_report


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dpone", prog_name="dpone")
def cli() -> None:
    """dpone: fast, provably correct table loads with contracts, evidence and exactly-once state."""


cli.add_command(run_command)
cli.add_command(plan_command)
cli.add_command(check_command)
cli.add_command(manifest)
cli.add_command(doctor)
cli.add_command(orchestrate)
cli.add_command(ops)
cli.add_command(run_report)
cli.add_command(observability)


def main() -> None:
    """Console-script entry point; Ctrl-C outside a run exits 130 without a traceback."""
    configure_cli_logging()
    exit_now(_invoke())


def _invoke() -> int:
    """Run the command line and return its exit code."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        click.echo(str(exc.code), err=True)
        return 1
    return 0


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` without tearing the interpreter down module by module.

    By now the run has committed and its report is written; Python's own shutdown would still
    free every loaded module (pyarrow, numpy, pydantic), about 40 ms of every ``dpone`` call.
    atexit handlers (logging's flush among them) run and both streams are flushed first. With a
    non-daemon thread still alive the normal shutdown runs instead, so that it is waited for. A
    daemon thread (a reader left behind by an interrupted load) is not: finalizing the interpreter
    under it can abort the process (``PyGILState_Release``), and it would be killed anyway.
    """
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
