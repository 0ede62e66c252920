"""Named points a run passes (``stage``, ``finalize``, ``commit``, ``copy``, ...), for whoever listens.

The runtime and the connectors call :func:`checkpoint` at points where a crash or a signal is most
interesting (inside the open finalize transaction, mid-COPY). Listeners registered with
:func:`listen` see each one. In production only the test listener below is there, and it costs
one environment lookup per checkpoint.

Crash tests listen through the environment: ``DPONE_TEST_PAUSE_AT=<name>`` makes the run create the
file named by ``DPONE_TEST_PAUSE_FILE`` (holding its pid) at that point and sleep (up to
``DPONE_TEST_PAUSE_SECONDS``, default 60), so a test can SIGKILL or SIGINT it there. A leaf module:
it imports nothing of dpone, so every layer may emit checkpoints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

Listener = Callable[[str], None]
_listeners: list[Listener] = []


def listen(listener: Listener) -> Callable[[], None]:
    """Call ``listener(name)`` at every checkpoint from now on; returns the function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def checkpoint(name: str) -> None:
    """The run passes point ``name``."""
    for listener in list(_listeners):
        listener(name)


def _pause_for_tests(name: str) -> None:
    if os.environ.get("DPONE_TEST_PAUSE_AT") != name:
        return
    marker = os.environ.get("DPONE_TEST_PAUSE_FILE")
    if marker:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(float(os.environ.get("DPONE_TEST_PAUSE_SECONDS", "60")))


listen(_pause_for_tests)  # one environment lookup per checkpoint when no test asks for a pause
