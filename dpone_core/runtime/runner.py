"""Attempts and retries of one process, and turning outcomes and errors into a RunReport."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Literal

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from dpone_core.errors import DponeError, InterruptedRun, exit_code_for, is_retryable
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process, Retry
from dpone_core.redaction import redact
from dpone_core.runtime.attempt import Attempt
from dpone_core.runtime.backoff import wait_before_retry
from dpone_core.runtime.context import AttemptOutcome, RunContext
from dpone_core.runtime.interrupts import InterruptWatch
from dpone_core.runtime.progress import ProgressCallback, ProgressTracker
from dpone_core.runtime.report import ErrorEntry, RunReport, RunResult

log = logging.getLogger("dpone")

INTERNAL_FIX = "report this with the run's log (DPONE_LOG_FILE=<path> keeps the traceback)"
"""What an unexpected error tells the user: the traceback is in the log, never in a report."""

Phase = Literal["load", "extract", "finalize"]
"""``load``: a whole load in one run; ``extract``/``finalize``: the two halves of a chunked load."""


def new_id(prefix: str = "") -> str:
    """Time-ordered unique id: ``20261123T162305Z_9f3a1c2b``."""
    return f"{prefix}{datetime.now(UTC):%Y%m%dT%H%M%S}Z_{secrets.token_hex(4)}"


def error_entry(error: BaseException, process: str | None) -> ErrorEntry:
    """Report form of an exception; unexpected ones keep only their (redacted) type and message."""
    if isinstance(error, DponeError):
        info = error.at(process=process).info()
        return ErrorEntry(
            code=info.code,
            message=info.message,
            process=info.process,
            step=info.step,
            fix=info.fix,
            line=info.one_line(),
            retryable=is_retryable(error),
            exit_code=exit_code_for(error),
        )
    message = redact(f"{type(error).__name__}: {error}".splitlines()[0])
    line = f"[DPONE_INTERNAL] process '{process}': {message}. Fix: {INTERNAL_FIX}"
    return ErrorEntry(code="DPONE_INTERNAL", message=message, process=process, line=line, fix=INTERNAL_FIX)


def run_process(
    loaded: LoadedManifest,
    process: Process,
    *,
    run_id: str | None,
    retry: Retry,
    restart: bool = False,
    dry_run: bool = False,
    partition: str | None = None,
    on_event: ProgressCallback | None = None,
    phase: Phase = "load",
    chunk_keys: tuple[str, ...] | None = None,
) -> RunReport:
    """Run one process with retries for transient errors; never raises for expected failures.

    ``phase`` ``extract`` parks partition ``partition`` for a chunked load; ``finalize`` commits
    the parked chunks ``chunk_keys`` of ``run_id`` as one load.
    """
    run_id = run_id or new_id(f"{process.name}_")
    max_attempts = 1 + retry.attempts
    started = datetime.now(UTC)
    clock = time.monotonic()
    attempts = 0
    outcome: AttemptOutcome | None = None
    load_id = None
    current: Attempt | None = None

    def attempt() -> AttemptOutcome:
        nonlocal attempts, load_id, current
        attempts += 1
        load_id = new_id()
        ctx = RunContext(
            loaded,
            process,
            run_id,
            load_id,
            restart=restart,
            dry_run=dry_run,
            partition=partition,
            chunk_keys=chunk_keys if phase == "finalize" else None,
            progress=ProgressTracker(process.name, on_event),
        )
        if phase == "extract":
            # Imported here: the extract path pulls in the gates, which a plain run may not need.
            from dpone_core.runtime.chunks.extract import ChunkExtract

            return ChunkExtract(ctx).run()
        current = Attempt(ctx)
        return current.run()

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "attempt %s/%s of %s failed, retrying in %gs: %s",
            state.attempt_number,
            max_attempts,
            process.name,
            wait_before_retry(retry, state.attempt_number),
            error_entry(error, process.name).line if error else "",
        )

    def wait(state: RetryCallState) -> float:
        return wait_before_retry(retry, state.attempt_number)

    watch = InterruptWatch()
    retrying = Retrying(
        stop=stop_after_attempt(max_attempts),
        wait=wait,
        retry=retry_if_exception(lambda e: is_retryable(e) and not watch.seen),
        reraise=True,
        before_sleep=before_sleep,
    )
    error: BaseException | None = None
    try:
        with watch:
            outcome = retrying(attempt)
    except Exception as exc:
        error = exc
        if not isinstance(exc, DponeError) and not watch.seen:
            log.error("unexpected error in %s", process.name, exc_info=True)
    except KeyboardInterrupt:
        pass  # recorded by the watch
    if watch.seen and outcome is None and not isinstance(error, InterruptedRun):
        # Whatever the engine made of the signal (its own error, a closed stream), the user stopped it.
        error = InterruptedRun("interrupted by the user; the open transaction was rolled back", process=process.name)

    finished = datetime.now(UTC)
    duration = time.monotonic() - clock
    if outcome is not None:
        result = outcome.result.model_copy(update={"duration_seconds": duration})
        status = outcome.status
        passed = status in {"succeeded", "skipped", "planned", "extracted"}
    else:
        assert error is not None
        result = RunResult(
            errors=[error_entry(error, process.name)],
            duration_seconds=duration,
            gates=list(current.gates) if current else [],
            warnings=list(current.warnings) if current else [],
        )
        status = "interrupted" if isinstance(error, InterruptedRun) else "failed"
        passed = False
    return RunReport(
        passed=passed,
        status=status,
        process=process.name,
        run_id=run_id,
        load_id=load_id if outcome is not None and outcome.status == "succeeded" else None,
        strategy=process.sink.strategy,
        attempts=attempts,
        max_attempts=max_attempts,
        manifest_path=str(loaded.path),
        manifest_sha256=loaded.sha256,
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        result=result,
    )
