"""A rich progress display for runs on a terminal (phase, rows, rows/s); silent otherwise."""

from __future__ import annotations

import os
import sys
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from dpone_core.runtime.progress import ProgressEvent


def terminal_console() -> Console | None:
    """A rich console on stderr when stderr is a terminal (or rich is told to treat it as one), else None.

    The cheap check comes first: most runs (schedulers, CI, ``--format json`` pipes) never show
    progress, and they skip building a console. ``TTY_COMPATIBLE=1`` and ``FORCE_COLOR`` are the
    variables rich itself reads to draw on something that is not a terminal.
    """
    if not (sys.stderr.isatty() or os.environ.get("TTY_COMPATIBLE") == "1" or os.environ.get("FORCE_COLOR")):
        return None
    console = Console(stderr=True)
    return console if console.is_terminal else None


class RichProgress:
    """Context manager whose ``__call__`` receives the runtime's progress events."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[process]}[/]"),
            TextColumn("{task.fields[phase]:<10}"),
            TextColumn("{task.completed:>12,.0f} rows"),
            TextColumn("{task.fields[rate]:>12,.0f} rows/s"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        """Update the process's line."""
        task = self.tasks.get(event.process)
        if task is None:
            task = self.progress.add_task("", total=None, process=event.process, phase=event.phase, rate=0.0)
            self.tasks[event.process] = task
        self.progress.update(task, completed=event.rows, phase=event.phase, rate=event.rows_per_second)
