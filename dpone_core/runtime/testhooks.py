"""Pause points for crash tests: ``DPONE_TEST_PAUSE_AT=<step>`` makes a run stop there.

When the run reaches the named step it creates the file named by ``DPONE_TEST_PAUSE_FILE`` and sleeps
(up to ``DPONE_TEST_PAUSE_SECONDS``, default 60), so a test can SIGKILL it at a known point, e.g.
inside the open finalize transaction. Unset in production: the check is one dict lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def pause_point(step: str) -> None:
    """Pause here if a test asked for it."""
    if os.environ.get("DPONE_TEST_PAUSE_AT") != step:
        return
    marker = os.environ.get("DPONE_TEST_PAUSE_FILE")
    if marker:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(float(os.environ.get("DPONE_TEST_PAUSE_SECONDS", "60")))
