"""The dataflow runner: many processes of one manifest as one job (``dpone orchestrate stage``).

Every task is a call of :func:`dpone_core.api.run`, the one execution path; the runner only decides
*which* tasks run, *when* (see :mod:`.plan`), *how often* (see :mod:`.retry`) and what is recorded.

Parallelism uses threads, not processes: a task spends its time waiting on sources and sinks
(network, disk) and inside Arrow and DuckDB, which release the GIL while they work, so threads
overlap well, share the loaded manifest, and need no pickling. Processes would only pay off for
pure-Python CPU work, which the data plane avoids by design (ARCHITECTURE §3).

>>> runner = DataflowRunner("manifests/sales.yaml", RunConfig(max_workers=4))  # doctest: +SKIP
>>> result = runner.run(stages=["bronze"])  # doctest: +SKIP
>>> result.total, result.succeeded, result.failed, result.skipped  # doctest: +SKIP
(6, 6, 0, 0)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dpone_core.errors import ManifestError
from dpone_core.manifest.loader import LoadedManifest, load_manifest
from dpone_core.model.strict import suggest
from dpone_core.orchestration._files import safe_name
from dpone_core.orchestration.plan import ExecutionPlan, Task, build_plan, select_processes
from dpone_core.orchestration.replay import ReplayRange, replay_keys
from dpone_core.orchestration.result import ExecutionResult
from dpone_core.orchestration.retry import ALL_STEPS, RetryPolicy, RetryStep
from dpone_core.orchestration.trace import TraceRecorder, store_trace
from dpone_core.runtime.progress import ProgressCallback, ProgressEvent
from dpone_core.runtime.report import RunReport, RunResult
from dpone_core.runtime.runner import error_entry, new_id


class RunnerCallbacks:
    """Hooks around every task; subclass and override what you need. Called from worker threads."""

    def on_before(self, task: Task) -> None:
        """Before the first attempt of ``task``."""

    def on_after(self, task: Task, report: RunReport) -> None:
        """After the last attempt of ``task`` (also for skipped tasks)."""

    def on_retry(self, task: Task, report: RunReport, attempt: int, wait_seconds: float) -> None:
        """After failed attempt ``attempt`` of ``task``, before waiting ``wait_seconds`` for the next."""


@dataclass(frozen=True)
class RunConfig:
    """How a job runs. ``retry=None`` uses each process's own ``retry`` block from the manifest."""

    job_id: str | None = None
    job_num: int = 1
    job_index: int = 0
    max_workers: int = 4
    stop_on_error: bool = False
    dry_run: bool = False
    retry: RetryPolicy | None = None
    retry_steps: tuple[RetryStep, ...] = ALL_STEPS
    restart: bool = False
    store_trace: bool = False
    trace_connection: str | None = None
    pipeline_name: str | None = None
    maintenance: bool = False
    column_name_mode: str | None = None
    """Override each process's ``source.column_names`` (as_is, lower, snake)."""

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if self.job_num < 1 or not 0 <= self.job_index < self.job_num:
            raise ValueError(f"job_index {self.job_index} must be in 0..{self.job_num - 1}")


def _not_run(task: Task, reason: str, *, planned: bool = False) -> RunReport:
    now = datetime.now(UTC).isoformat()
    return RunReport(
        passed=planned,
        status="planned" if planned else "skipped",
        process=task.process.name,
        run_id=task.run_id,
        strategy=task.process.sink.strategy,
        attempts=0,
        started_at=now,
        finished_at=now,
        result=RunResult(warnings=[reason]),
    )


RunFunction = Callable[..., RunReport]


@dataclass
class _Attempts:
    """Per-task bookkeeping shared between the retry loop and the progress hook."""

    count: int = 0
    phase: str | None = None


@dataclass
class DataflowRunner:
    """Runs the processes of one manifest as a job; see the module docstring.

    ``run_function`` defaults to :func:`dpone_core.api.run`; it is a parameter so that a wrapper
    (e.g. one adding credentials) can be passed, not to replace the execution path.
    """

    manifest: str | Path | LoadedManifest
    config: RunConfig = field(default_factory=RunConfig)
    registry_paths: Sequence[str | Path] = ()
    callbacks: RunnerCallbacks = field(default_factory=RunnerCallbacks)
    run_function: RunFunction | None = None

    def __post_init__(self) -> None:
        self.loaded = (
            self.manifest
            if isinstance(self.manifest, LoadedManifest)
            else load_manifest(self.manifest, self.registry_paths)
        )
        self.job_id = self.config.job_id or new_id("job_")
        self.pipeline = self.config.pipeline_name or self.loaded.path.stem

    # ---- planning ------------------------------------------------------------------------------
    def plan(
        self, selector: str | None = None, stages: str | Sequence[str] = (), replay: ReplayRange | None = None
    ) -> ExecutionPlan:
        """The tasks this shard would run, in start order (raises ManifestError for a bad selection)."""
        processes = select_processes(self.loaded, selector, stages)
        partitions = {p.name: replay_keys(p, replay) for p in processes} if replay is not None else None
        plan = build_plan(
            self.loaded,
            processes,
            self.job_id,
            job_num=self.config.job_num,
            job_index=self.config.job_index,
            partitions=partitions,
        )
        if self.config.store_trace:
            self._trace_connection(plan)
        return plan

    # ---- running -------------------------------------------------------------------------------
    def run(
        self, selector: str | None = None, stages: str | Sequence[str] = (), *, on_event: ProgressCallback | None = None
    ) -> ExecutionResult:
        """Run every selected process once (retries per policy)."""
        return self.execute(self.plan(selector, stages), on_event=on_event)

    def run_replay(
        self,
        replay: ReplayRange,
        selector: str | None = None,
        stages: str | Sequence[str] = (),
        *,
        on_event: ProgressCallback | None = None,
    ) -> ExecutionResult:
        """Replay ``replay`` (first..last partition key) of the selected processes, one committed load per chunk."""
        return self.execute(self.plan(selector, stages, replay), on_event=on_event)

    def execute(self, plan: ExecutionPlan, *, on_event: ProgressCallback | None = None) -> ExecutionResult:
        """Run ``plan``: start tasks whose edges and lanes allow it, up to ``max_workers`` at a time."""
        started, clock = datetime.now(UTC), time.monotonic()
        recorder = TraceRecorder(self.job_id, self.pipeline)
        reports: dict[str, RunReport] = {}
        attempts: dict[str, int] = {}
        interrupted = False
        if self.config.dry_run:
            for task in plan.tasks:
                reports[task.id] = _not_run(task, "dry run: nothing read or written", planned=True)
                attempts[task.id] = 0
        else:
            interrupted = self._schedule(plan, reports, attempts, recorder, on_event)
        trace = None
        if self.config.store_trace and not self.config.dry_run and recorder.rows:
            trace = self._store_trace(plan, recorder)
        maintenance: list[dict[str, Any]] = []
        if self.config.maintenance and not self.config.dry_run and not interrupted:
            from dpone_core.orchestration.maintenance import run_maintenance

            done = {t.process.name: t.process for t in plan.tasks if reports[t.id].passed}
            maintenance = [m.to_dict() for m in run_maintenance(self.loaded, list(done.values()))]
        ordered = {t.id: reports[t.id] for t in plan.tasks}
        # An already committed task ran (one attempt) but loaded nothing: skipped, not succeeded.
        skipped = sum(1 for r in ordered.values() if r.status in {"skipped", "planned"})
        succeeded = sum(1 for r in ordered.values() if r.passed and r.status not in {"skipped", "planned"})
        return ExecutionResult(
            job_id=self.job_id,
            pipeline=self.pipeline,
            job_num=plan.job_num,
            job_index=plan.job_index,
            dry_run=self.config.dry_run,
            total=len(ordered),
            succeeded=succeeded,
            failed=len(ordered) - succeeded - skipped,
            skipped=skipped,
            interrupted=interrupted,
            reports=ordered,
            attempts=attempts,
            plan=plan.describe(),
            other_shards=list(plan.other_shards),
            trace=trace,
            maintenance=maintenance,
            started_at=started.isoformat(),
            finished_at=datetime.now(UTC).isoformat(),
            duration_seconds=round(time.monotonic() - clock, 4),
        )

    def _schedule(
        self,
        plan: ExecutionPlan,
        reports: dict[str, RunReport],
        attempts: dict[str, int],
        recorder: TraceRecorder,
        on_event: ProgressCallback | None,
    ) -> bool:
        """The scheduling loop; returns True when interrupted (Ctrl-C)."""
        pending = list(plan.tasks)
        running: dict[Future[tuple[RunReport, int]], Task] = {}
        held: set[str] = set()
        stopping: str | None = None
        interrupted = False
        pool = ThreadPoolExecutor(max_workers=self.config.max_workers, thread_name_prefix="dpone-task")
        try:
            while pending or running:
                if stopping is not None:
                    for task in pending:
                        self._finish_unrun(task, stopping, reports, attempts)
                    pending = []
                progressed = True
                while progressed and stopping is None:
                    progressed = False
                    for task in list(pending):
                        if len(running) >= self.config.max_workers:
                            break
                        waits = task.needs + task.after
                        if any(w not in reports for w in waits):
                            continue
                        failed_needs = [n for n in task.needs if not reports[n].passed]
                        if failed_needs:
                            pending.remove(task)
                            self._finish_unrun(
                                task, f"upstream {', '.join(failed_needs)} did not pass", reports, attempts
                            )
                            progressed = True
                            continue
                        if held & set(task.exclusive):
                            continue
                        pending.remove(task)
                        held.update(task.exclusive)
                        running[pool.submit(self._run_task, task, recorder, on_event)] = task
                        progressed = True
                if not running:
                    if pending and stopping is None:  # only possible with edges to unknown tasks
                        for task in pending:
                            self._finish_unrun(task, "waits for a task that is not in this plan", reports, attempts)
                        pending = []
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = running.pop(future)
                    held.difference_update(task.exclusive)
                    report, count = future.result()
                    reports[task.id], attempts[task.id] = report, count
                    if not report.passed and self.config.stop_on_error and stopping is None:
                        stopping = f"stop_on_error: not started after {task.id} failed"
        except KeyboardInterrupt:
            interrupted = True
            pool.shutdown(wait=False, cancel_futures=True)
            for future, task in running.items():
                if future.cancelled():
                    self._finish_unrun(task, "interrupted before it started", reports, attempts)
                else:
                    report, count = future.result()  # a started load finishes (or rolls back) on its own
                    reports[task.id], attempts[task.id] = report, count
            for task in pending:
                self._finish_unrun(task, "interrupted before it started", reports, attempts)
        finally:
            pool.shutdown(wait=True)
        return interrupted

    def _extra_run_options(self) -> dict[str, Any]:
        """Options passed to the run function only when set (custom run functions may not take them)."""
        return {"column_name_mode": self.config.column_name_mode} if self.config.column_name_mode else {}

    def _finish_unrun(self, task: Task, reason: str, reports: dict[str, RunReport], attempts: dict[str, int]) -> None:
        report = _not_run(task, reason)
        reports[task.id], attempts[task.id] = report, 0
        self.callbacks.on_after(task, report)

    def _run_task(
        self, task: Task, recorder: TraceRecorder, on_event: ProgressCallback | None
    ) -> tuple[RunReport, int]:
        """All attempts of one task (runs in a worker thread)."""
        from dpone_core.api import run as core_run

        run_function = self.run_function or core_run
        policy = self.config.retry or RetryPolicy.from_manifest(task.process.retry, self.config.retry_steps)
        state = _Attempts()

        def progress(event: ProgressEvent) -> None:
            state.phase = event.phase
            if on_event is not None:
                on_event(event)

        def attempt() -> RunReport:
            state.count += 1
            state.phase = None
            try:
                report: RunReport = run_function(
                    self.loaded,
                    task.process.name,
                    run_id=task.run_id,
                    retry_attempts=0,
                    restart=self.config.restart,
                    partition=task.partition,
                    on_event=progress,
                    **self._extra_run_options(),
                )
            except Exception as exc:  # noqa: BLE001 - one broken task must not take the job down
                report = RunReport(
                    passed=False,
                    status="failed",
                    process=task.process.name,
                    run_id=task.run_id,
                    result=RunResult(errors=[error_entry(exc, task.process.name)]),
                )
            recorder.record(task.id, task.partition, state.count, report)
            return report

        def before_sleep(retry_state: Any) -> None:
            report = retry_state.outcome.result()
            wait_seconds = retry_state.next_action.sleep if retry_state.next_action else 0.0
            self.callbacks.on_retry(task, report, retry_state.attempt_number, wait_seconds)

        self.callbacks.on_before(task)
        retrying = policy.retrying(lambda report: policy.should_retry(report, state.phase), before_sleep)
        report = retrying(attempt)
        report = report.model_copy(update={"attempts": state.count, "max_attempts": policy.max_attempts})
        self.callbacks.on_after(task, report)
        return report, state.count

    def _trace_connection(self, plan: ExecutionPlan) -> str | None:
        """The connection receiving the trace; an unknown one fails the plan, before anything runs."""
        connection = self.config.trace_connection or (plan.tasks[0].process.sink.connection if plan.tasks else None)
        known = self.loaded.manifest.connections
        if connection is not None and connection not in known:
            hint = suggest(connection, list(known))
            raise ManifestError(
                f"--trace-connection '{connection}' is not a connection of the manifest"
                + (f"; did you mean '{hint}'?" if hint else ""),
                step="plan",
                fix=f"use one of: {', '.join(sorted(known))}",
            )
        return connection

    def _store_trace(self, plan: ExecutionPlan, recorder: TraceRecorder) -> dict[str, Any]:
        connection = self._trace_connection(plan)
        if connection is None:
            return {"status": "failed", "passed": False, "errors": ["no task ran, so no sink to store the trace"]}
        directory = self.loaded.base_dir / ".dpone" / "trace" / safe_name(self.job_id)
        report = store_trace(self.loaded, recorder, connection, directory)
        return {
            "status": report.status,
            "passed": report.passed,
            "table": report.result.target,
            "rows": report.result.inserted_rows,
            "connection": connection,
            "errors": [e.line for e in report.result.errors],
        }


class _ThreadSafeCallback:
    """Serialise a progress callback that is not itself thread-safe (e.g. a rich display)."""

    def __init__(self, callback: ProgressCallback) -> None:
        self.callback = callback
        self.lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        with self.lock:
            self.callback(event)


def serialised(callback: ProgressCallback) -> ProgressCallback:
    """Wrap ``callback`` so that worker threads call it one at a time."""
    return _ThreadSafeCallback(callback)
