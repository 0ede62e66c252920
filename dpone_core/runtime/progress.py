"""Progress events the runtime emits; the CLI, Airflow and Dagster each render them their own way."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a run: a phase change or a batch of rows passing through."""

    process: str
    phase: str
    rows: int = 0
    rows_per_second: float = 0.0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class ProgressTracker:
    """Counts rows for one phase and forwards events to the callback (if any)."""

    process: str
    callback: ProgressCallback | None = None
    phase: str = "start"
    rows: int = 0
    _started: float = field(default_factory=time.monotonic)

    def enter(self, phase: str, message: str = "") -> None:
        """Start a new phase (rows keep counting across phases: they are rows of the load)."""
        self.phase = phase
        self._emit(message)

    def advance(self, rows: int) -> None:
        """Record ``rows`` more rows in the current phase."""
        self.rows += rows
        self._emit()

    def _emit(self, message: str = "") -> None:
        if self.callback is None:
            return
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self.callback(ProgressEvent(self.process, self.phase, self.rows, self.rows / elapsed, message))
