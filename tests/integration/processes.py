"""Stopping the servers the tests start: by pid, politely first."""

from __future__ import annotations

import contextlib
import os
import signal
import time


def stop_pid(pid: int, grace: float = 10) -> None:
    """SIGTERM ``pid``, wait up to ``grace`` seconds for it to exit (reaping it), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # not our child, or already reaped
        if done:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
