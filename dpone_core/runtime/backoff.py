"""The wait before each retry: one schedule for the core's retries and ``dpone orchestrate stage``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dpone_core.manifest.process import Retry

EXPONENTIAL_CAP = 32
"""A manifest's exponential wait stops growing at this multiple of ``backoff_seconds``."""


@dataclass(frozen=True)
class Backoff:
    """``fixed``: every wait is ``first``; ``exponential``: ``first * 2**(n-1)``, kept within
    ``[minimum, maximum]``; ``none``: no wait."""

    kind: Literal["none", "fixed", "exponential"] = "none"
    first: float = 0.0
    minimum: float = 0.0
    maximum: float = float("inf")

    @classmethod
    def of(cls, retry: Retry) -> Backoff:
        """The schedule of a manifest's ``retry`` block."""
        base = float(retry.backoff_seconds)
        if retry.backoff == "fixed":
            return cls("fixed", base)
        return cls("exponential", base, base, base * EXPONENTIAL_CAP)

    def wait(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt ``failed_attempt`` (1-based) failed.

        >>> [Backoff.of(Retry(attempts=3, backoff_seconds=5)).wait(n) for n in (1, 2, 3)]
        [5.0, 10.0, 20.0]
        >>> [Backoff.of(Retry(attempts=3, backoff_seconds=5, backoff="fixed")).wait(n) for n in (1, 2, 3)]
        [5.0, 5.0, 5.0]
        """
        if self.kind == "none":
            return 0.0
        if self.kind == "fixed":
            return self.first
        return min(max(self.first * 2 ** (failed_attempt - 1), self.minimum), self.maximum)


def wait_before_retry(retry: Retry, failed_attempt: int) -> float:
    """Seconds to wait after attempt ``failed_attempt`` of a process with this ``retry`` block."""
    return Backoff.of(retry).wait(failed_attempt)
