"""Retry policies of the dataflow runner: ``none | fixed | backoff``, for chosen steps, never for terminal errors.

A retry is decided on the :class:`RunReport` of an attempt (``dpone_core.run`` never raises), from
two facts: the error must be retryable (``ErrorEntry.retryable``, from
:func:`dpone_core.errors.is_retryable`), and the step it failed in must be one of the
policy's ``steps``. Steps are the lifecycle's phases grouped the way users think about them:

* ``connect``: opening the source or the sink (a DuckDB file held by another writer lands here);
* ``extract``: reading the source;
* ``load``: gates, DDL, staging, finalize and evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tenacity import Retrying, retry_if_result, stop_after_attempt

from dpone_core.manifest.process import Retry
from dpone_core.runtime.backoff import Backoff
from dpone_core.runtime.report import RunReport

RetryStep = Literal["connect", "extract", "load"]
ALL_STEPS: tuple[RetryStep, ...] = ("connect", "extract", "load")
_PHASE_STEP: dict[str, RetryStep] = {"start": "connect", "connect": "connect", "extract": "extract"}


def step_of(phase: str | None) -> RetryStep:
    """The retry step a lifecycle phase belongs to (anything after extract is ``load``).

    >>> step_of("extract"), step_of("finalize"), step_of(None)
    ('extract', 'load', 'connect')
    """
    if phase is None:
        return "connect"
    return _PHASE_STEP.get(phase, "load")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before another attempt of one process.

    ``max_attempts`` counts the first attempt (``fixed`` with 3 means up to two retries).

    >>> RetryPolicy.parse("backoff", max_attempts=5, multiplier=2, min_seconds=1, max_seconds=10).max_attempts
    5
    """

    type: Literal["none", "fixed", "backoff"] = "none"
    max_attempts: int = 1
    wait_seconds: float = 0.0
    multiplier: float = 1.0
    min_seconds: float = 0.0
    max_seconds: float = 60.0
    steps: tuple[RetryStep, ...] = ALL_STEPS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts counts the first attempt and must be at least 1")
        unknown = set(self.steps) - set(ALL_STEPS)
        if unknown:
            raise ValueError(f"unknown retry steps {sorted(unknown)}; use {', '.join(ALL_STEPS)}")

    @classmethod
    def parse(cls, kind: str, **options: Any) -> RetryPolicy:
        """Build a policy from its name and options (``none`` ignores the options and never retries)."""
        if kind == "none":
            return cls("none", 1, steps=tuple(options.get("steps", ALL_STEPS)))
        if kind not in {"fixed", "backoff"}:
            raise ValueError(f"retry policy '{kind}' is not one of none, fixed, backoff")
        return cls(kind, **options)  # type: ignore[arg-type]

    @classmethod
    def from_manifest(cls, retry: Retry, steps: tuple[RetryStep, ...] = ALL_STEPS) -> RetryPolicy:
        """The process's own ``retry`` block as a policy (used when the runner is given none)."""
        if retry.attempts == 0:
            return cls("none", 1, steps=steps)
        if retry.backoff == "fixed":
            return cls("fixed", retry.attempts + 1, wait_seconds=retry.backoff_seconds, steps=steps)
        return cls(
            "backoff",
            retry.attempts + 1,
            multiplier=retry.backoff_seconds,
            min_seconds=retry.backoff_seconds,
            max_seconds=retry.backoff_seconds * 32,
            steps=steps,
        )

    def backoff(self) -> Backoff:
        """This policy's waits on the one schedule (:class:`dpone_core.runtime.backoff.Backoff`)."""
        if self.type == "fixed":
            return Backoff("fixed", self.wait_seconds)
        if self.type == "backoff":
            return Backoff("exponential", self.multiplier, self.min_seconds, self.max_seconds)
        return Backoff()

    def should_retry(self, report: RunReport, failed_phase: str | None) -> bool:
        """Whether this failed attempt is worth another: retryable code, in a chosen step."""
        if report.passed or report.status == "interrupted" or self.type == "none":
            return False
        errors = report.result.errors
        if not errors or not all(e.retryable for e in errors):
            return False  # a terminal error (or an unknown one) is never retried
        step = step_of(errors[0].step or failed_phase)  # the error's own step wins over the last phase
        return step in self.steps

    def retrying(
        self, decide: Callable[[RunReport], bool], before_sleep: Callable[[Any], None] | None = None
    ) -> Retrying:
        """A tenacity ``Retrying`` that calls an attempt until ``decide`` says stop; returns the last report."""
        schedule = self.backoff()
        return Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=lambda state: schedule.wait(state.attempt_number),
            retry=retry_if_result(decide),
            before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            reraise=True,
        )
