"""The wait before each retry of a process, from its ``retry`` block: one schedule for every entry point."""

from __future__ import annotations

from dpone_core.manifest.process import Retry

EXPONENTIAL_CAP = 32
"""An exponential wait stops growing at this multiple of ``backoff_seconds``."""


def wait_before_retry(retry: Retry, failed_attempt: int) -> float:
    """Seconds to wait after attempt ``failed_attempt`` (1-based) failed.

    >>> [wait_before_retry(Retry(attempts=3, backoff_seconds=5), n) for n in (1, 2, 3)]
    [5.0, 10.0, 20.0]
    >>> [wait_before_retry(Retry(attempts=3, backoff_seconds=5, backoff="fixed"), n) for n in (1, 2, 3)]
    [5.0, 5.0, 5.0]
    """
    base = float(retry.backoff_seconds)
    if retry.backoff == "fixed":
        return base
    return min(base * 2 ** (failed_attempt - 1), base * EXPONENTIAL_CAP)
