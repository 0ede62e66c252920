"""The parent's handle on the relay's reading process (:mod:`.copy_out_child`).

The process starts when a load decides to relay, so its interpreter start and its connection
overlap the finalize's own preparation; it copies nothing until :meth:`CopyOutProcess.chunks`
says ``go``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dpone_core.spi.ports import RelayRefused

CHILD = Path(__file__).with_name("copy_out_child.py")
PROGRESS_ROWS = 65_536
_PIPE_BYTES = 1 << 20


class SourceCopyError(Exception):
    """The reading process's COPY failed; ``pgcode`` holds the server's SQLSTATE, if it sent one.

    ``connection_lost`` marks a connection that broke without an SQLSTATE (a killed backend, a
    restart): ``connection.translate`` makes it a transient, retryable error.
    """

    def __init__(self, message: str, pgcode: str | None, *, connection_lost: bool = False) -> None:
        super().__init__(message)
        self.pgcode = pgcode
        self.connection_lost = connection_lost


class CopyOutProcess:
    """One ``COPY ... TO STDOUT (FORMAT binary)`` in a child process, read as chunks of bytes."""

    def __init__(self, params: dict[str, str], sql: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-P", str(CHILD), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None and self.proc.stderr is not None
        self._stdout, self._stderr = self.proc.stdout.fileno(), self.proc.stderr.fileno()
        with contextlib.suppress(OSError, AttributeError):  # a larger pipe: fewer wake-ups per MB
            fcntl.fcntl(self._stdout, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        os.set_blocking(self._stderr, False)
        self._messages = bytearray()
        self.marked_rows = 0
        """Rows the child has reported sending (in steps of :data:`PROGRESS_ROWS`)."""
        self.proc.stdin.write(json.dumps({"params": params, "sql": sql}).encode() + b"\n")

    def chunks(self) -> Iterator[bytes]:
        """Start the COPY and yield its bytes as they arrive, until the child closes its output."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(b"go\n")  # stdin stays open: its end tells the child we are gone
        except BrokenPipeError:
            return  # the child is gone: finish() says why
        while True:
            data = os.read(self._stdout, _PIPE_BYTES)
            self._read_messages()
            if not data:
                return
            yield data

    def _read_messages(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self._stderr, 65_536):
                self._messages += chunk
        dots = self._messages.split(b"{", 1)[0].count(b".")
        self.marked_rows = dots * PROGRESS_ROWS

    def finish(self, timeout: float | None = None) -> int:
        """Wait for the child and return the rows it copied; raise its error.

        :class:`SourceCopyError` for a failed COPY; :class:`RelayRefused` when the child ended
        without a result (it could not start) or could not connect: the Arrow path reads again, on
        the session the run already has, and reports anything that is really wrong.
        """
        self.proc.wait(timeout=timeout)
        os.set_blocking(self._stderr, True)
        assert self.proc.stderr is not None
        self._messages += self.proc.stderr.read() or b""
        text = self._messages.decode("utf-8", "replace")
        result = _last_json(text)
        if result is None:
            raise RelayRefused("the relay's reading process ended without a result")
        if "error" in result and result.get("phase") == "connect":
            # Another session may be refused (a role's connection limit) where the run's own work:
            # the Arrow path reads on the session the run already has.
            raise RelayRefused(f"the relay's reading process could not connect: {result['error']}")
        if "error" in result:
            lost = bool(result.get("connection_lost"))
            raise SourceCopyError(str(result["error"]), result.get("sqlstate"), connection_lost=lost)
        return int(result["rows"])

    def close_output(self) -> None:
        """Stop reading: a child still writing gets a broken pipe and ends."""
        with contextlib.suppress(Exception):
            assert self.proc.stdout is not None
            self.proc.stdout.close()

    def close(self) -> None:
        """Stop the child if it still runs; never raises."""
        with contextlib.suppress(Exception):
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                if pipe is not None:
                    pipe.close()


def _last_json(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        document = json.loads(text[start:].splitlines()[0])
    except (ValueError, IndexError):
        return None
    return document if isinstance(document, dict) else None
