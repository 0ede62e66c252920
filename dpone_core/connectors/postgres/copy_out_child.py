"""The reading half of the Postgres binary relay, run as its own process: one binary ``COPY ... TO STDOUT``.

:class:`dpone_core.connectors.postgres.copy_out.CopyOutProcess` starts this file with the running
Python (``python copy_out_child.py``); it imports psycopg2 and nothing of dpone, so it is ready in
tens of milliseconds. It is a process of its own because psycopg2 refuses COPY while a wait
callback is installed, and dpone installs one in its own process.

Protocol: stdin brings one JSON line (``params``: libpq keywords, password included, so it never
shows in argv or the environment; ``sql``: the COPY statement), then ``go`` when the target is
ready (anything else, or end of input, and it exits without copying); stdin then stays open, and
its end means the parent is gone: the child exits at once, even while its COPY waits on the server.
The parent's pid comes as the only argument: on Linux the child asks the kernel to SIGKILL it when
the parent dies (``PR_SET_PDEATHSIG``), which holds even when the end of stdin never arrives (a
process that inherited the pipe's write end); elsewhere, and as a second guard, it also exits when
its parent pid changes.
stdout carries the COPY data as the server sends it. stderr carries one ``.`` per 65,536 rows sent,
then one JSON line: ``{"rows": n}``, or ``{"error": "<first line>", "sqlstate": "<code or null>",
"phase": "connect" | "copy", "connection_lost": bool}`` (exit status 1).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import threading
from typing import Any

PROGRESS_ROWS = 65_536


class _Output:
    """psycopg2 writes one COPY message (one row) per ``write`` call: count them on the way."""

    __slots__ = ("calls", "err", "out")

    def __init__(self, out: Any, err: Any) -> None:
        self.calls, self.out, self.err = 0, out, err

    def write(self, data: bytes) -> int:
        # Marked before the next call: the last call is the end-of-data marker, not a row.
        if self.calls and self.calls % PROGRESS_ROWS == 0:
            self.err.write(b".")
        self.calls += 1
        return int(self.out.write(data))


def _first_line(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Be killed with the parent (Linux); exit now if the parent is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        # No prctl in this libc: the watcher thread below still guards.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the request above took effect


def _exit_when_parent_goes(parent: int) -> None:
    """The parent keeps stdin open while it reads; its end, or a new parent pid, ends this process."""
    # The raw descriptor: a daemon thread blocked in the buffered sys.stdin would hold its lock at
    # interpreter shutdown, which Python reports as a fatal error.
    while os.getppid() == parent:
        ready, _, _ = select.select([0], [], [], 1.0)
        if ready and not os.read(0, 4096):
            break
    os._exit(1)


def main() -> int:
    """Copy out as asked; the exit status is 0 when every row was sent."""
    parent = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    _die_with(parent)
    err = os.fdopen(2, "wb", buffering=0, closefd=False)

    def report(document: dict[str, Any]) -> None:
        err.write(json.dumps(document).encode() + b"\n")

    request = json.loads(sys.stdin.readline())
    import psycopg2  # type: ignore[import-untyped]

    try:
        connection = psycopg2.connect(**request["params"])
    except psycopg2.Error as exc:
        report({"error": _first_line(exc), "sqlstate": getattr(exc, "pgcode", None), "phase": "connect"})
        return 1
    try:
        connection.autocommit = True
        if sys.stdin.readline().strip() != "go":
            return 0
        threading.Thread(target=_exit_when_parent_goes, args=(parent,), daemon=True).start()
        out = os.fdopen(1, "wb", buffering=1 << 16, closefd=False)
        with connection.cursor() as cursor:
            cursor.copy_expert(request["sql"], _Output(out, err))
            out.flush()
            report({"rows": cursor.rowcount})
        return 0
    except psycopg2.Error as exc:
        code = getattr(exc, "pgcode", None)
        lost = code is None and isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError)
        report({"error": _first_line(exc), "sqlstate": code, "phase": "copy", "connection_lost": lost})
        return 1
    except (BrokenPipeError, KeyboardInterrupt):
        return 1  # the parent stopped reading: it knows why


if __name__ == "__main__":
    sys.exit(main())
