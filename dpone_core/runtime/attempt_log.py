"""What one attempt records as it goes: step timings, gate verdicts, warnings, progress."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from dpone_core.runtime.progress import ProgressTracker
from dpone_core.runtime.report import GateVerdict


@dataclass
class AttemptLog:
    """The running record of an attempt; a write path that declines hands a fresh one to the next."""

    progress: ProgressTracker
    gates: list[GateVerdict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def step(self, name: str) -> None:
        """Enter step ``name`` (timed until the next step, reported as progress)."""
        self.timings[name] = time.monotonic()
        self.progress.enter(name)

    def so_far(self) -> dict[str, Any]:
        """The warnings, step timings and gate verdicts gathered so far, for ``load_result``."""
        return {"warnings": self.warnings, "step_seconds": self.step_seconds(), "gates": self.gates}

    def step_seconds(self) -> dict[str, float]:
        """Seconds spent in each step so far."""
        names = list(self.timings)
        now = time.monotonic()
        return {
            n: round((self.timings[names[i + 1]] if i + 1 < len(names) else now) - self.timings[n], 4)
            for i, n in enumerate(names)
        }

    def restart(self) -> None:
        """Forget the verdicts and rows of a read whose write path declined (warnings and timings stay)."""
        self.gates.clear()
        self.progress.rows = 0
