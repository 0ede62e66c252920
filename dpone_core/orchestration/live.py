"""A rich live table for a job of many processes: task, phase, rows, rows/s, attempts, status."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from dpone_core.orchestration.dataflow import RunnerCallbacks
from dpone_core.orchestration.plan import ExecutionPlan, Task
from dpone_core.runtime.progress import ProgressEvent
from dpone_core.runtime.report import RunReport

_STYLE = {"succeeded": "green", "failed": "red", "skipped": "yellow", "running": "cyan", "retrying": "magenta"}


@dataclass
class _Row:
    phase: str = "-"
    rows: int = 0
    rate: float = 0.0
    attempts: int = 0
    status: str = "waiting"
    started: float | None = None
    seconds: float = 0.0


class LiveJobTable(RunnerCallbacks):
    """Callbacks plus a progress callback that keep one table row per task up to date.

    >>> with LiveJobTable(console, plan) as table:  # doctest: +SKIP
    ...     DataflowRunner(manifest, callbacks=table).execute(plan, on_event=table.on_event)
    """

    def __init__(self, console: Console, plan: ExecutionPlan, inner: RunnerCallbacks | None = None) -> None:
        self.console = console
        self.inner = inner or RunnerCallbacks()
        self.rows = {t.id: _Row() for t in plan.tasks}
        self.current: dict[str, str] = {}  # process name -> running task id (events carry the process)
        self.lock = threading.Lock()
        self.live = Live(console=console, refresh_per_second=4, transient=False, get_renderable=self.render)

    def render(self) -> Table:
        """The table as it is now."""
        table = Table(title="dpone stage", expand=False)
        for column in ("task", "phase", "rows", "rows/s", "attempts", "seconds", "status"):
            table.add_column(column, justify="right" if column in {"rows", "rows/s", "attempts", "seconds"} else "left")
        with self.lock:
            snapshot = {k: _Row(**vars(v)) for k, v in self.rows.items()}
        now = time.monotonic()
        for task_id, row in snapshot.items():
            seconds = row.seconds or (now - row.started if row.started else 0.0)
            style = _STYLE.get(row.status, "")
            table.add_row(
                task_id,
                row.phase,
                f"{row.rows:,}",
                f"{row.rate:,.0f}",
                str(row.attempts),
                f"{seconds:.1f}",
                f"[{style}]{row.status}[/]" if style else row.status,
            )
        return table

    def on_event(self, event: ProgressEvent) -> None:
        """Progress callback for the runtime's events."""
        with self.lock:
            row = self.rows.get(self.current.get(event.process, ""))
            if row is not None:
                row.phase, row.rows, row.rate = event.phase, event.rows, event.rows_per_second

    def on_before(self, task: Task) -> None:
        """Mark the task running."""
        with self.lock:
            self.current[task.process.name] = task.id
            row = self.rows[task.id]
            row.status, row.started, row.attempts = "running", time.monotonic(), 1
        self.inner.on_before(task)

    def on_retry(self, task: Task, report: RunReport, attempt: int, wait_seconds: float) -> None:
        """Show the retry."""
        with self.lock:
            row = self.rows[task.id]
            row.status, row.attempts = f"retrying in {wait_seconds:.0f}s", attempt + 1
        self.inner.on_retry(task, report, attempt, wait_seconds)

    def on_after(self, task: Task, report: RunReport) -> None:
        """Show the final status."""
        with self.lock:
            row = self.rows[task.id]
            row.status = "succeeded" if report.passed else report.status
            row.attempts = report.attempts
            row.seconds = report.result.duration_seconds
            if report.result.extracted_rows:
                row.rows = report.result.extracted_rows
        self.inner.on_after(task, report)

    def __enter__(self) -> LiveJobTable:
        self.live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.live.refresh()
        self.live.stop()
