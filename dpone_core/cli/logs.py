"""Where the CLI's log goes: one line per message on stderr, tracebacks only into ``DPONE_LOG_FILE``.

An unexpected error is logged at ERROR with its traceback (``runtime/runner.py``); a person at a
terminal sees its one-line report and the one-line log message, never the traceback. Set
``DPONE_LOG_FILE`` to a path to keep everything (DEBUG and tracebacks) for a bug report.
"""

from __future__ import annotations

import logging
import os

from dpone_core.redaction import redact

LOG_FILE_ENV = "DPONE_LOG_FILE"


class _OneLine(logging.Formatter):
    """``level message`` on one line: no traceback, no stack, secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(" ".join(f"{record.levelname.lower()}: {record.getMessage()}".split()))


class _Redacted(logging.Formatter):
    """The full record (tracebacks included), with secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_cli_logging() -> None:
    """Attach the CLI's handlers to the ``dpone`` logger (once)."""
    logger = logging.getLogger("dpone")
    if getattr(logger, "_dpone_cli", False):
        return
    terminal = logging.StreamHandler()
    terminal.setLevel(logging.WARNING)
    terminal.setFormatter(_OneLine())
    logger.addHandler(terminal)
    logger.setLevel(logging.WARNING)
    path = os.environ.get(LOG_FILE_ENV)
    if path:
        keep = logging.FileHandler(path, encoding="utf-8")
        keep.setLevel(logging.DEBUG)
        keep.setFormatter(_Redacted("%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s"))
        logger.addHandler(keep)
        logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger._dpone_cli = True  # type: ignore[attr-defined]
