"""Noticing Ctrl-C during a run, also when an engine reports it as its own error.

A SIGINT lands in whatever Python code runs on the main thread. During a bulk load that is often
code a database engine calls back into (DuckDB pulling the Arrow stream, a driver's COPY feed), and
the engine then raises its own exception ("reading the stream failed: Python exception") instead of
``KeyboardInterrupt``. :class:`InterruptWatch` wraps the current SIGINT handler for the duration of
a run and records that the signal arrived, so the runner can report an interrupted run (exit 130)
whatever exception finally reaches it. The previous handler still runs, so hosts that install
their own (Airflow, Dagster) keep their behaviour.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any


class InterruptWatch:
    """Context manager: ``seen`` becomes True once SIGINT arrives while it is active."""

    def __init__(self) -> None:
        self.seen = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers can only be set on the main thread
        previous = signal.getsignal(signal.SIGINT)
        if not callable(previous):
            return self  # SIG_IGN (nohup, background job) or SIG_DFL: the signal never reaches Python
        self._previous = previous
        signal.signal(signal.SIGINT, self._handle)
        self._installed = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.seen = True
        self._previous(signum, frame)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(error, KeyboardInterrupt):
            self.seen = True
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
